"""17_audio.py: keypad tones in the Audio tab, the validation clips the model mishears each epoch, read back through
the real TensorBoard server as the printed command serves the run."""

import importlib
import io
import re
import wave

import numpy as np
import pytest

import plumbing

from support import tb_read
from support.scripts import SCRIPT_ARGS
from tensorboard_server import running_tensorboard

audio_script = importlib.import_module("17_audio")

EPOCHS = int(SCRIPT_ARGS["17_audio.py"][1])
AUDIO = "/data/plugin/audio"
TAG = re.compile(r"^key (\S)/heard as (\S)$")
# The lines each epoch prints about the clips it logged: "    key 5 heard as 8 (0.71)      35 ms tone, ...".
PRINTED_CLIP = re.compile(r"^    key (\S) heard as (\S) \(([0-9.]+)\) +(\d+) ms tone, SNR [+-]\d+ dB", re.MULTILINE)


@pytest.fixture(scope="module")
def audio_run(run_script):
    return run_script("17_audio.py")


@pytest.fixture(scope="module")
def server(audio_run):
    # As the script's printed command serves it: its run directory, every clip kept.
    with running_tensorboard(audio_run.run_dir, "--samples_per_plugin", "audio=1000") as tb:
        tb.wait_until(lambda: tb.get(f"{AUDIO}/tags").get("validation"), what="the audio tags")
        yield tb


@pytest.fixture(scope="module")
def served(server):
    """{tag: {step: (WAV header fields, the samples as floats)}}, and the tags' index, as the Audio tab loads them."""
    index = server.get(f"{AUDIO}/tags")
    clips = {}
    for tag in index["validation"]:
        for entry in server.get(f"{AUDIO}/audio", run="validation", tag=tag):
            assert entry["contentType"] == "audio/wav"
            wav = server.get(f"{AUDIO}/individualAudio?{entry['query']}", raw=True)
            with wave.open(io.BytesIO(wav)) as reader:
                header = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
                samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2") / 32767.0
            clips.setdefault(tag, {})[entry["step"]] = (header, samples)
    return index, clips


@pytest.fixture(scope="module")
def validation():
    """The validation clips of the test run (--quick, the default --seed), made again."""
    return audio_script.make_splits(plumbing.DEFAULT_SEED, quick=True)["validation"]


def test_the_audio_tab_lists_8_khz_mono_clips_of_a_quarter_second_each_labelled_by_its_tag(served):
    index, clips = served
    # Only the validation run holds clips; the train run holds Keras' curves.
    assert set(index) == {"validation"}
    assert clips and all(TAG.match(tag) for tag in clips), sorted(clips)
    for tag, by_step in clips.items():
        true_key, heard = TAG.match(tag).groups()
        # The card's description (its info icon) says it too, and the epoch of the clip.
        description = index["validation"][tag]["description"]
        assert re.fullmatch(
            rf"<p>Epoch (\d+) \(step (\d+)\): a validation clip of key {re.escape(true_key)}, "
            rf"which the model heard as {re.escape(heard)}\.</p>",
            description,
        ), description
        assert set(by_step) <= set(range(EPOCHS))
        for header, samples in by_step.values():
            assert header == (audio_script.SAMPLE_RATE, 1, 2)
            assert len(samples) == audio_script.CLIP_SAMPLES
            assert 0 < np.abs(samples).max() <= 1.0


def logged_by_step(clips):
    """{step: [(true key, heard key)]} of the served clips."""
    by_step = {}
    for tag, steps in clips.items():
        for step in steps:
            by_step.setdefault(step, []).append(TAG.match(tag).groups())
    return by_step


def test_every_epoch_logs_a_few_mistakes_each_next_to_a_clip_of_its_key_heard_right(served):
    _, clips = served
    by_step = logged_by_step(clips)
    assert sorted(by_step) == list(range(EPOCHS))
    for step, pairs in by_step.items():
        wrong = [true_key for true_key, heard in pairs if heard != true_key]
        right = [true_key for true_key, heard in pairs if heard == true_key]
        # At most MISTAKES_PER_EPOCH mistakes, of different keys; a right clip only of a key that was misheard.
        assert 0 < len(wrong) == len(set(wrong)) <= audio_script.MISTAKES_PER_EPOCH, (step, pairs)
        assert set(right) <= set(wrong), (step, pairs)


def test_each_served_clip_is_a_validation_clip_of_the_key_its_tag_names(served, validation):
    _, clips = served
    keys = np.array(list(audio_script.KEYS))[validation.keys]
    for tag, steps in clips.items():
        true_key, _ = TAG.match(tag).groups()
        for _, samples in steps.values():
            distance = np.abs(validation.audio[:, :, 0] - samples).max(axis=1)
            nearest = int(distance.argmin())
            # The same clip, but for the WAV file's 16-bit rounding; and held out of training, with the tag's key.
            assert distance[nearest] < 2 / 32767, tag
            assert keys[nearest] == true_key, (tag, nearest)


def test_the_printed_lines_name_the_same_clips_as_the_tags_each_epoch(audio_run, served):
    _, clips = served
    by_step = logged_by_step(clips)
    epochs = audio_run.stdout.split("Logged to the Audio tab")[1:]
    assert len(epochs) == EPOCHS
    for step, text in enumerate(epochs):
        printed = [(true_key, heard) for true_key, heard, *_ in PRINTED_CLIP.findall(text.split("Epoch ")[0])]
        assert sorted(printed) == sorted(by_step[step])
        for _, _, confidence, tone_ms in PRINTED_CLIP.findall(text.split("Epoch ")[0]):
            assert 1 / len(audio_script.KEYS) <= float(confidence) <= 1.0
            assert 1000 * audio_script.TONE_SECONDS[0] - 1 <= int(tone_ms) <= 1000 * audio_script.TONE_SECONDS[1] + 1


def test_train_and_validation_curves_and_the_test_split_once(audio_run):
    for split in ("train", "validation"):
        run = tb_read.assert_epoch_scalars(audio_run.run_dir / split, ("epoch_loss", "epoch_accuracy"), EPOCHS)
        assert all(0.0 <= value <= 1.0 for _, value in tb_read.scalar_series(run, "epoch_accuracy"))
    assert (
        len(
            re.findall(
                r"^Test clips, measured once after training: loss [0-9.]+, accuracy [0-9.]+$",
                audio_run.stdout,
                re.MULTILINE,
            )
        )
        == 1
    )
    assert f"tensorboard --logdir {audio_run.run_dir} --samples_per_plugin audio=1000" in audio_run.stdout
    assert "the Audio tab" in audio_run.stdout


def test_the_clips_are_seeded_and_each_key_sounds_its_two_tones():
    first = audio_script.make_clips(200, np.random.default_rng([7, 1]))
    again = audio_script.make_clips(200, np.random.default_rng([7, 1]))
    other = audio_script.make_clips(200, np.random.default_rng([8, 1]))
    np.testing.assert_array_equal(first.audio, again.audio)
    assert not np.array_equal(first.audio, other.audio)
    assert first.audio.shape == (200, audio_script.CLIP_SAMPLES, 1) and first.audio.dtype == np.float32
    assert np.abs(first.audio).max() <= 1.0
    # A clear clip's spectrum peaks at its key's low and high frequencies (within the detuning, and the bins' width).
    frequencies = np.fft.rfftfreq(audio_script.CLIP_SAMPLES, 1 / audio_script.SAMPLE_RATE)
    clear = np.flatnonzero((first.snr_db > 5) & (first.tone_ms > 100))
    assert len(clear) > 10
    for index in clear:
        spectrum = np.abs(np.fft.rfft(first.audio[index, :, 0]))
        low_band, high_band = (frequencies > 600) & (frequencies < 1050), (frequencies > 1100) & (frequencies < 1600)
        low_peak = frequencies[low_band][spectrum[low_band].argmax()]
        high_peak = frequencies[high_band][spectrum[high_band].argmax()]
        low, high = audio_script.key_frequencies(first.keys[index])
        assert abs(low_peak - low) < low * audio_script.MAX_DETUNE + 8, (index, low_peak, low)
        assert abs(high_peak - high) < high * audio_script.MAX_DETUNE + 8, (index, high_peak, high)


def test_key_frequencies_follow_the_keypad():
    assert audio_script.key_frequencies(audio_script.KEYS.index("1")) == (697, 1209)
    assert audio_script.key_frequencies(audio_script.KEYS.index("5")) == (770, 1336)
    assert audio_script.key_frequencies(audio_script.KEYS.index("0")) == (941, 1336)
    assert audio_script.key_frequencies(audio_script.KEYS.index("#")) == (941, 1477)


def test_clips_to_hear_picks_the_most_confident_mistakes_one_per_key_each_with_its_best_right_clip():
    keys = np.array([0, 0, 1, 1, 2, 0, 2])
    probabilities = np.array(
        [
            [0.2, 0.8, 0.0],  # key 0 heard as 1, 0.8
            [0.9, 0.1, 0.0],  # key 0 right, 0.9
            [0.7, 0.3, 0.0],  # key 1 heard as 0, 0.7
            [0.1, 0.6, 0.3],  # key 1 right, 0.6
            [0.0, 0.4, 0.6],  # key 2 right, 0.6
            [0.05, 0.95, 0.0],  # key 0 heard as 1, 0.95: the most confident mistake
            [0.5, 0.5, 0.0],  # key 2 heard as 0 (the first of equals), 0.5
        ]
    )
    assert audio_script.clips_to_hear(keys, probabilities, 2) == [(5, 1), (2, 3)]
    assert audio_script.clips_to_hear(keys, probabilities, 5) == [(5, 1), (2, 3), (6, 4)]
    # A key never heard right has no clip to compare with.
    assert audio_script.clips_to_hear(keys[:1], probabilities[:1], 3) == [(0, None)]


class StubModel:
    """Stands in for the trained model: `predict` returns fixed logits."""

    def __init__(self, logits):
        self.logits = np.asarray(logits, np.float32)

    def predict(self, audio, verbose=0):
        assert len(audio) == len(self.logits)
        return self.logits


def test_the_callback_tags_each_clip_with_the_key_the_model_predicted_and_its_epoch(tmp_path):
    clips = audio_script.make_clips(4, np.random.default_rng([plumbing.DEFAULT_SEED, 9]))
    clips.keys = np.array([4, 4, 7, 0])  # keys 5, 5, 8, 1
    logits = np.full((4, len(audio_script.KEYS)), -5.0)
    logits[0, 7] = 5.0  # a clip of key 5 predicted as 8, most confidently
    logits[1, 4] = 3.0  # a clip of key 5 predicted as 5
    logits[2, 10] = 2.0  # a clip of key 8 predicted as 0
    logits[3, 0] = 4.0  # a clip of key 1 predicted as 1 (no mistake of its key: not logged)
    callback = audio_script.MisheardClips(tmp_path, clips)
    callback.set_model(StubModel(logits))
    callback.on_train_begin()
    callback.on_epoch_end(3)
    callback.on_train_end()
    run = tb_read.load(tmp_path)
    logged = {tag: tb_read.tensor_values(run, tag) for tag in tb_read.plugin_tags(run, "audio")}
    assert sorted(logged) == ["key 5/heard as 5", "key 5/heard as 8", "key 8/heard as 0"]
    for tag, index in (("key 5/heard as 8", 0), ("key 5/heard as 5", 1), ("key 8/heard as 0", 2)):
        ((step, encoded),) = logged[tag]
        assert step == 3
        true_key, heard = TAG.match(tag).groups()
        assert run.SummaryMetadata(tag).summary_description == (
            f"Epoch 4 (step 3): a validation clip of key {true_key}, which the model heard as {heard}."
        )
        # The clip itself, as a WAV file.
        with wave.open(io.BytesIO(encoded.flatten()[0])) as reader:
            samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2") / 32767.0
        assert np.abs(samples - clips.audio[index, :, 0]).max() < 2 / 32767, tag
