"""02_scalars_custom_loop.py: epoch scalars for train and test, and one run per learning rate."""

import math

import numpy as np
import pytest
import tb_read
from conftest import SCRIPT_ARGS

import starter

EPOCHS = int(SCRIPT_ARGS["02_scalars_custom_loop.py"][1])
SCRIPT = "02_scalars_custom_loop.py"


@pytest.fixture(scope="module")
def scalars_run(run_script):
    return run_script(SCRIPT)


def test_train_and_test_runs_have_epoch_mean_loss_and_accuracy(scalars_run):
    for split in ("train", "test"):
        run = tb_read.assert_epoch_scalars(scalars_run.run_dir / split, ("loss", "accuracy"), EPOCHS)
        assert tb_read.plugin_tags(run, "scalars") == {"loss", "accuracy"}
        accuracy = [value for _, value in tb_read.scalar_series(run, "accuracy")]
        assert all(0.0 <= value <= 1.0 for value in accuracy)


def test_one_run_per_learning_rate_with_the_loss_of_every_batch(scalars_run):
    rate_dirs = sorted(path.name for path in scalars_run.run_dir.glob("lr_*"))
    assert rate_dirs == sorted(f"lr_{rate:g}" for rate in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5))
    # The sweep trains on the training data less its validation slice.
    num_train = starter.QUICK_TRAIN_EXAMPLES - round(starter.QUICK_TRAIN_EXAMPLES * starter.VALIDATION_FRACTION)
    batches_per_epoch = math.ceil(num_train / 64)
    for name in rate_dirs:
        train = tb_read.load(scalars_run.run_dir / name / "train")
        series = tb_read.scalar_series(train, "batch_loss")
        steps = [step for step, _ in series]
        # A global step: it keeps counting across epochs, so the runs overlay on one x axis.
        assert steps == list(range(1, EPOCHS * batches_per_epoch + 1))
        assert np.all(np.isfinite([value for _, value in series]))
        # Each rate is scored on the validation slice, which chooses the rate; there is no test run in the sweep.
        assert not (scalars_run.run_dir / name / "test").exists()
        validation = tb_read.load(scalars_run.run_dir / name / "validation")
        assert tb_read.plugin_tags(validation, "scalars") == {"final_accuracy"}
        ((_, accuracy),) = tb_read.scalar_series(validation, "final_accuracy")
        assert 0.0 <= accuracy <= 1.0
        # A share of the 205 validation images, printed as the script's own line for that rate.
        num_validation = round(starter.QUICK_TRAIN_EXAMPLES * starter.VALIDATION_FRACTION)
        assert abs(accuracy * num_validation - round(accuracy * num_validation)) < 1e-3
        assert f"  validation accuracy {accuracy:.4f}" in scalars_run.stdout


def test_learning_rates_flag_chooses_the_runs(run_script):
    run = run_script(SCRIPT, "--learning-rates", "0.003")
    assert sorted(path.name for path in run.run_dir.glob("lr_*")) == ["lr_0.003"]
    assert "tensorboard --logdir" in run.stdout
