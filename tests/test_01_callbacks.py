"""01_callbacks.py, run as a learner runs it, its logs read back with TensorBoard's readers."""

import re

import numpy as np
import pytest
import tb_read
from conftest import SCRIPT_ARGS

EPOCHS = int(SCRIPT_ARGS["01_callbacks.py"][1])


@pytest.fixture(scope="module")
def callbacks_run(run_script):
    return run_script("01_callbacks.py")


def test_train_and_validation_runs_have_epoch_loss_and_accuracy(callbacks_run):
    for split in ("train", "validation"):
        tb_read.assert_epoch_scalars(callbacks_run.run_dir / split, ("epoch_loss", "epoch_accuracy"), EPOCHS)


def test_training_is_real_the_held_out_accuracy_is_far_above_chance(callbacks_run):
    validation = tb_read.load(callbacks_run.run_dir / "validation")
    accuracy = [value for _, value in tb_read.scalar_series(validation, "epoch_accuracy")]
    # Measured: about 0.9 after three --quick epochs on digits; chance is 0.1.
    assert accuracy[-1] > 0.6
    printed = float(re.search(r"Final held-out accuracy: ([0-9.]+)", callbacks_run.stdout).group(1))
    assert printed == pytest.approx(accuracy[-1], abs=1e-4)
    train = tb_read.load(callbacks_run.run_dir / "train")
    losses = [value for _, value in tb_read.scalar_series(train, "epoch_loss")]
    assert losses[-1] < losses[0]


def test_histograms_of_every_weight_each_epoch(callbacks_run):
    train = tb_read.load(callbacks_run.run_dir / "train")
    histograms = tb_read.plugin_tags(train, "histograms")
    kernels = {tag for tag in histograms if tag.endswith("kernel/histogram")}
    assert len(kernels) == 4, histograms  # conv, conv, features, logits
    for tag in kernels:
        series = tb_read.tensor_values(train, tag)
        assert [step for step, _ in series] == list(range(EPOCHS))
        for _, buckets in series:
            # Each bucket is (left edge, right edge, count); the counts cover every weight.
            assert buckets.shape[1] == 3 and np.all(np.isfinite(buckets)) and buckets[:, 2].sum() > 0


def test_conceptual_keras_graph_is_logged(callbacks_run):
    train = tb_read.load(callbacks_run.run_dir / "train")
    assert "keras" in tb_read.plugin_tags(train, "graph_keras_model")
    ((step, config),) = tb_read.tensor_values(train, "keras")
    assert b"Conv2D" in config.item() and b"features" in config.item()


def test_it_prints_the_command_to_view_the_logs(callbacks_run):
    experiment_dir = callbacks_run.run_dir.parent
    assert f"tensorboard --logdir {experiment_dir}" in callbacks_run.stdout
