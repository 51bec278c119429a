"""13_fit_callbacks.py: model.fit with Keras' TensorBoard callback and a confusion-matrix callback of our own."""

import json
import re

import numpy as np
import pytest

import utils

from support import tb_read
from support.scripts import SCRIPT_ARGS

EPOCHS = int(SCRIPT_ARGS["13_fit_callbacks.py"][1])
CLASS_NAMES = [str(digit) for digit in range(10)]


@pytest.fixture(scope="module")
def fit_run(run_script):
    return run_script("13_fit_callbacks.py")


BATCHING_LINE = re.compile(
    r"^Batch-level scalars with update_freq=(\d+): (\d+) points for the (\d+) batches of each epoch\.$", re.M
)


@pytest.fixture(scope="module")
def batching(fit_run):
    """(update_freq, batches per epoch), as the script printed them."""
    match = BATCHING_LINE.search(fit_run.stdout)
    assert match, fit_run.stdout[-2000:]
    update_freq, points, batches_per_epoch = (int(number) for number in match.groups())
    assert points * update_freq == batches_per_epoch
    return update_freq, batches_per_epoch


def test_the_test_settings_make_update_freq_skip_batches(batching):
    update_freq, batches_per_epoch = batching
    # Otherwise the tests below would not see whether batches are skipped and epoch scalars kept.
    assert update_freq > 1 and batches_per_epoch % update_freq == 0


def test_it_says_how_often_it_logs_batches_before_training_starts(fit_run, batching):
    line_start = BATCHING_LINE.search(fit_run.stdout).start()
    # Keras prints "Epoch 1/3" as training starts.
    assert line_start < fit_run.stdout.index(f"Epoch 1/{EPOCHS}")


def test_batch_scalars_every_update_freq_batches_at_the_global_batch_number(fit_run, batching):
    update_freq, batches_per_epoch = batching
    train = tb_read.load(fit_run.run_dir / "train")
    assert {"batch_loss", "batch_accuracy"} <= tb_read.plugin_tags(train, "scalars")
    expected_steps = list(range(update_freq, EPOCHS * batches_per_epoch + 1, update_freq))
    for tag in ("batch_loss", "batch_accuracy"):
        series = tb_read.scalar_series(train, tag)
        assert [step for step, _ in series] == expected_steps, tag
        assert np.all(np.isfinite([value for _, value in series]))


def test_the_last_batch_point_of_each_epoch_is_the_epoch_mean(fit_run, batching):
    _, batches_per_epoch = batching
    train = tb_read.load(fit_run.run_dir / "train")
    batch_loss = dict(tb_read.scalar_series(train, "batch_loss"))
    for epoch, epoch_loss in tb_read.scalar_series(train, "epoch_loss"):
        assert batch_loss[(epoch + 1) * batches_per_epoch] == pytest.approx(epoch_loss, rel=1e-5)


def test_train_and_validation_curves_every_epoch(fit_run):
    for split in ("train", "validation"):
        tb_read.assert_epoch_scalars(fit_run.run_dir / split, ("epoch_loss", "epoch_accuracy"), EPOCHS)
    validation = tb_read.load(fit_run.run_dir / "validation")
    # Measured: about 0.9 after three epochs; chance is 0.1.
    assert tb_read.scalar_series(validation, "epoch_accuracy")[-1][1] > 0.6


def test_the_learning_rate_of_the_schedule_falls_every_epoch(fit_run):
    train = tb_read.assert_epoch_scalars(fit_run.run_dir / "train", ("epoch_learning_rate",), EPOCHS)
    rates = [value for _, value in tb_read.scalar_series(train, "epoch_learning_rate")]
    assert all(0 < later < earlier <= 1e-3 for earlier, later in zip(rates, rates[1:], strict=False)), rates


def test_one_confusion_matrix_per_epoch_in_the_validation_run_at_keras_epoch_steps(fit_run):
    validation = tb_read.load(fit_run.run_dir / "validation")
    assert "confusion_matrix" in tb_read.plugin_tags(validation, "images")
    matrices = tb_read.decoded_images(validation, "confusion_matrix")
    curve_steps = [step for step, _ in tb_read.scalar_series(validation, "epoch_accuracy")]
    assert [step for step, _ in matrices] == curve_steps == list(range(EPOCHS))
    # The picture utils.plot_confusion_matrix draws for ten classes, whatever its counts.
    expected_shape = tuple(utils.plot_to_image(utils.plot_confusion_matrix(np.eye(10), CLASS_NAMES)).shape[1:])
    for _, (png,) in matrices:
        assert png.shape == expected_shape and png.std() > 0


def test_the_callback_writes_its_own_event_file_into_keras_validation_run(fit_run):
    event_files = sorted((fit_run.run_dir / "validation").glob("events.out.tfevents.*"))
    assert len(event_files) == 2
    tags_per_file = [tb_read.tensor_tags(tb_read.load(path)) for path in event_files]
    (keras_tags,) = [tags for tags in tags_per_file if "epoch_accuracy" in tags]
    (own_tags,) = [tags for tags in tags_per_file if "confusion_matrix" in tags]
    assert not keras_tags & own_tags


def test_the_last_matrix_counts_agree_with_keras_validation_accuracy(fit_run):
    rows = re.findall(r"^\s+(\S+): ([0-9.]+) of (\d+) validation images$", fit_run.stdout, re.MULTILINE)
    assert [name for name, _, _ in rows] == CLASS_NAMES
    accuracy = np.array([float(value) for _, value, _ in rows])
    counts = np.array([int(count) for _, _, count in rows])
    validation = tb_read.load(fit_run.run_dir / "validation")
    keras_accuracy = tb_read.scalar_series(validation, "epoch_accuracy")[-1][1]
    # The matrix is counted on the validation slice with the model of the last epoch, as Keras measured it.
    assert np.sum(accuracy * counts) / counts.sum() == pytest.approx(keras_accuracy, abs=1e-3)


def test_the_test_split_is_measured_once_and_printed(fit_run):
    (accuracy,) = re.findall(
        r"^Test split, measured once after training: loss [0-9.]+, accuracy ([0-9.]+)$", fit_run.stdout, re.MULTILINE
    )
    assert 0.6 < float(accuracy) <= 1.0


def test_it_prints_the_command_to_view_the_logs(fit_run):
    # This run alone (so TensorBoard ticks its runs), then the lesson's directory to compare with earlier runs.
    assert f"View them:  tensorboard --logdir {fit_run.run_dir} --samples_per_plugin images=1000" in fit_run.stdout
    experiment_dir = fit_run.run_dir.parent
    assert f"earlier runs:  tensorboard --logdir {experiment_dir} --samples_per_plugin images=1000" in fit_run.stdout


def test_its_closing_lines_name_the_tab_and_the_clicks_that_show_the_graph_and_the_matrix(fit_run):
    lines = fit_run.stdout.splitlines()
    tab = lines.index("Then open http://localhost:6006 and the Scalars tab.")
    # The line after it says how to compare with earlier runs; the clicks follow.
    assert lines[tab + 1].startswith("To compare it with earlier runs:")
    tab += 1
    # Keras 3 writes the conceptual graph (a `keras` tag of the graph_keras_model plugin) and no op graph, which
    # the Graphs tab asks for first: it shows "Malformed GraphDef" until "Conceptual graph" is chosen.
    train = tb_read.load(fit_run.run_dir / "train")
    assert tb_read.plugin_tags(train, "graph_keras_model") == {"keras"}
    assert train.Tags()["graph"] is False
    # The conceptual graph's one node is the model, named as in its config.
    ((_, config),) = tb_read.tensor_values(train, "keras")
    model_name = json.loads(config.item())["config"]["name"]
    assert lines[tab + 1] == (
        f'In the Graphs tab, choose "Conceptual graph" (Keras 3 writes no op graph), then double-click "{model_name}".'
    )
    assert (
        lines[tab + 2]
        == 'In the Images tab, tick "Show actual image size" to read the numbers of the confusion matrix.'
    )
