"""
Title: Audio: hear the telephone keypad tones a model gets wrong
Description: `tf.summary.audio` logs clips: each epoch, validation clips the model mishears, and some it hears right.

TensorBoard tabs: Audio (a card per key and what the model heard: press play) and Scalars (train and validation).
Run it:   python 17_audio.py     (or --quick for a smoke test; the clips are generated, nothing is downloaded)
View it:  tensorboard --logdir logs/17_audio/<run> --samples_per_plugin audio=1000   (printed at the end)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import dataclasses

import keras
import numpy as np
import tensorflow as tf

import plumbing

LESSON = "17_audio"  # its logs go to <logdir>/17_audio/

# ## Keypad tones
#
# A telephone keypad sends each key as two sine waves at once (DTMF, dual-tone multi-frequency): one low tone for
# the key's row and one high tone for its column. Key 5, in the second row and the second column, is 770 Hz plus
# 1336 Hz. A model that tells the 12 keys apart must hear both tones.

KEYS = "123456789*0#"  # row by row, as on the keypad
LOW_HZ = (697, 770, 852, 941)  # one per row
HIGH_HZ = (1209, 1336, 1477)  # one per column
SAMPLE_RATE = 8000  # samples per second, the telephone network's rate
CLIP_SAMPLES = 2000  # a quarter of a second


def key_frequencies(key):
    """The low and the high frequency (Hz) of the key at index `key` of KEYS."""
    row, column = divmod(key, len(HIGH_HZ))
    return LOW_HZ[row], HIGH_HZ[column]


# ## Noisy clips, generated in memory
#
# Each clip is a quarter of a second holding one key's two tones, generated from the seed so that the same flags
# give the same clips. To give the model mistakes worth hearing, each clip draws how long the tone lasts (20 to
# 200 ms, somewhere in the clip), how much hiss covers it (a signal-to-noise ratio of -10 to +15 dB over the
# whole band), how far each tone is detuned (up to 3%), how loud the high tone is next to the low one, and how
# loud the whole clip is. Three sets are drawn from different seeds: training, validation (the clips you will
# hear, and what the model is judged on each epoch) and a test set, measured once at the end.

TONE_SECONDS = (0.02, 0.2)
SNR_DB = (-10.0, 15.0)
MAX_DETUNE = 0.03
TWIST_DB = 6.0  # the high tone is up to this much louder or quieter than the low one
PEAK = (0.05, 0.9)  # the loudest sample of a clip
CLIPS = {"train": 3000, "validation": 600, "test": 600}
QUICK_CLIPS = {"train": 3000, "validation": 300, "test": 300}  # --quick's one epoch learns enough to hear


@dataclasses.dataclass
class Clips:
    """Generated clips: `audio` (N, CLIP_SAMPLES, 1) float32 in [-1, 1], `keys` (N,) indices of KEYS, and how
    each was made: `tone_ms`, `snr_db`, `detune_percent` (N, 2: the low and the high tone)."""

    audio: np.ndarray
    keys: np.ndarray
    tone_ms: np.ndarray
    snr_db: np.ndarray
    detune_percent: np.ndarray


def make_clips(count, rng):
    """`count` noisy keypad clips drawn with the NumPy generator `rng`."""
    keys = rng.integers(len(KEYS), size=count)
    nominal = np.array([key_frequencies(key) for key in keys], dtype=np.float64)
    detune = rng.uniform(-MAX_DETUNE, MAX_DETUNE, size=(count, 2))
    tone_seconds = rng.uniform(*TONE_SECONDS, size=count)
    start = rng.uniform(0.0, CLIP_SAMPLES / SAMPLE_RATE - tone_seconds)
    time = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    sounding = (time >= start[:, None]) & (time < (start + tone_seconds)[:, None])
    high_level = 10 ** (rng.uniform(-TWIST_DB, TWIST_DB, size=count) / 20)
    phases = rng.uniform(0.0, 2 * np.pi, size=(count, 2))
    frequencies = nominal * (1 + detune)
    low = np.sin(2 * np.pi * frequencies[:, :1] * time + phases[:, :1])
    high = np.sin(2 * np.pi * frequencies[:, 1:] * time + phases[:, 1:])
    tone = (low + high_level[:, None] * high) * sounding
    # The noise's power is the tone's power (while it sounds) divided by the signal-to-noise ratio.
    snr_db = rng.uniform(*SNR_DB, size=count)
    noise_power = (1 + high_level**2) / 2 / 10 ** (snr_db / 10)
    audio = tone + rng.normal(size=(count, CLIP_SAMPLES)) * np.sqrt(noise_power)[:, None]
    audio *= (rng.uniform(*PEAK, size=count) / np.abs(audio).max(axis=1))[:, None]
    return Clips(audio.astype(np.float32)[..., None], keys, tone_seconds * 1000, snr_db, detune * 100)


def make_splits(seed, quick):
    """{"train": Clips, "validation": Clips, "test": Clips}, each from its own generator seeded by `seed`."""
    counts = QUICK_CLIPS if quick else CLIPS
    return {
        name: make_clips(count, np.random.default_rng([seed, index]))
        for index, (name, count) in enumerate(counts.items())
    }


# ## A small model that listens
#
# The first layer turns the waveform into a spectrogram: how loud each frequency is in each 32 ms frame (a Fourier
# transform per frame, fixed, not trained). The same small dense layer then looks at every frame's spectrum for
# the pairs of tones it has learned, and the loudest answer over time wins, wherever in the clip the tone sounds.

LEARNING_RATE = 1e-2


def build_model():
    return keras.Sequential(
        [
            keras.Input(shape=(CLIP_SAMPLES, 1)),
            keras.layers.STFTSpectrogram(mode="log", frame_length=256, frame_step=64, trainable=False),
            # Each frame's spectrum scaled to mean 0 and variance 1: a quiet clip looks like a loud one.
            keras.layers.LayerNormalization(),
            keras.layers.Dense(32, activation="relu", name="tone_pairs"),
            keras.layers.GlobalMaxPooling1D(name="loudest_over_time"),
            keras.layers.Dense(len(KEYS), name="logits"),
        ],
        name="keypad",
    )


# ## Which clips to hear
#
# After each epoch the model predicts every validation clip. The clips worth hearing are its most confident
# mistakes: at most one per true key, the `count` most confident of them. Next to each, the clip of the same key
# it heard right with the most confidence, to compare with.


def clips_to_hear(keys, probabilities, count):
    """[(index of a misheard clip, index of a clip of the same key heard right, or None)], most confident first."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    chosen, seen_keys = [], set()
    # A stable sort keeps validation order among equal confidences, so the choice repeats with --seed.
    for index in np.argsort(-confidence, kind="stable"):
        if predicted[index] == keys[index] or keys[index] in seen_keys:
            continue
        seen_keys.add(keys[index])
        right = np.flatnonzero((keys == keys[index]) & (predicted == keys))
        best_right = right[np.argmax(confidence[right])] if len(right) else None
        chosen.append((index, best_right))
        if len(chosen) == count:
            break
    return chosen


# ## Logging the clips: a callback with `tf.summary.audio`
#
# This is the TensorBoard part. `tf.summary.audio(tag, audio, sample_rate, step)` takes clips shaped (clips,
# samples, channels) with values in [-1, 1], and the Audio tab plays them. The tab shows no label of its own for a
# clip, so the tag says what the clip is: `key 5/heard as 8` is a clip of key 5 that the model took for 8, `key
# 5/heard as 5` one it heard right. The part before the slash groups the cards, so each key's clips sit together.
# `step=epoch` puts each clip at its epoch: a card's slider moves through the epochs that logged that tag, and
# the description (the card's info icon) names the epoch, since cards of different epochs sit side by side.
#
# The callback writes into the `validation` run that Keras' TensorBoard callback makes (a second writer, with
# other tags, as in 13_fit_callbacks.py).

MISTAKES_PER_EPOCH = 3


def clip_line(clips, index, predicted, confidence):
    """One printed line: what the model heard in clip `index`, and how the clip was made."""
    low, high = clips.detune_percent[index]
    heard = f"key {KEYS[clips.keys[index]]} heard as {KEYS[predicted]} ({confidence:.2f})"
    made = (
        f"{clips.tone_ms[index]:.0f} ms tone, SNR {round(clips.snr_db[index]):+d} dB, detuned {low:+.1f}%/{high:+.1f}%"
    )
    return f"    {heard:<28} {made}"


class MisheardClips(keras.callbacks.Callback):
    """At the end of every epoch, logs validation clips the model gets wrong and right into `validation_dir`."""

    def __init__(self, validation_dir, validation):
        super().__init__()
        self.validation_dir = str(validation_dir)
        self.validation = validation

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(self.validation_dir)

    def on_epoch_end(self, epoch, logs=None):
        clips = self.validation
        probabilities = tf.nn.softmax(self.model.predict(clips.audio, verbose=0)).numpy()
        predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
        print("  Logged to the Audio tab (the confidence in brackets), and how each clip was made:")
        with self.writer.as_default(), tf.summary.record_if(True):
            for pair in clips_to_hear(clips.keys, probabilities, MISTAKES_PER_EPOCH):
                for index in (index for index in pair if index is not None):
                    true_key, heard = KEYS[clips.keys[index]], KEYS[predicted[index]]
                    tf.summary.audio(
                        f"key {true_key}/heard as {heard}",
                        clips.audio[index : index + 1],
                        sample_rate=SAMPLE_RATE,
                        step=epoch,
                        description=f"Epoch {epoch + 1} (step {epoch}): a validation clip of key {true_key}, "
                        f"which the model heard as {heard}.",
                    )
                    print(clip_line(clips, index, predicted[index], confidence[index]))
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()


# ## What to listen for
#
# Press play on a misheard clip, then on the clip of the same key heard right. Most mistakes are clips where the
# tone is short (a click rather than a beep) or buried in hiss: with little of the tone to go on, another key's
# tones fit nearly as well. Keys in the same row share the low tone and keys in the same column the high one, so
# the key the model heard is usually in the same row or column: it got one tone right and missed the other.


def print_test_result(model, test):
    test_loss, test_accuracy = model.evaluate(test.audio, test.keys, verbose=0)
    print(f"Test clips, measured once after training: loss {test_loss:.4f}, accuracy {test_accuracy:.4f}")


# ## Run the lesson
#
# `model.fit` trains on the training clips and measures the validation clips each epoch; Keras' TensorBoard
# callback logs both curves, ours the clips. TensorBoard keeps 10 clips of a tag unless told otherwise, so the
# command passes `--samples_per_plugin audio=1000` to keep every epoch's.


def make_parser():
    return plumbing.make_parser(
        "Train a model to recognise telephone keypad tones; log the clips it gets wrong to the Audio tab.",
        dataset=False,
    )


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    splits = make_splits(args.seed, args.quick)
    counts = ", ".join(f"{len(clips.keys)} {name}" for name, clips in splits.items())
    print(f"Keypad clips: {counts}, each {CLIP_SAMPLES / SAMPLE_RATE} s at {SAMPLE_RATE} Hz")
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    train, validation = splits["train"], splits["validation"]
    model.fit(
        train.audio,
        train.keys,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(validation.audio, validation.keys),
        # The progress bar first, so that each epoch's last line comes before the lines about its clips.
        callbacks=[
            keras.callbacks.ProgbarLogger(),
            keras.callbacks.TensorBoard(log_dir=str(run_dir), write_graph=False),
            MisheardClips(run_dir / "validation", validation),
        ],
    )
    print_test_result(model, splits["test"])
    plumbing.print_view_command(run_dir, "Audio", extra_flags="--samples_per_plugin audio=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
