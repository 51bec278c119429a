"""02_scalars_custom_loop.py: epoch scalars for train and test, and one run per learning rate."""

import importlib
import math
import re

import numpy as np
import pytest

import starter

from support import tb_read
from support.scripts import SCRIPT_ARGS

EPOCHS = int(SCRIPT_ARGS["02_scalars_custom_loop.py"][1])
SCRIPT = "02_scalars_custom_loop.py"

scalars_script = importlib.import_module("02_scalars_custom_loop")


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


def test_learning_rates_flag_chooses_the_runs_and_a_repeated_rate_is_trained_once(run_script):
    run = run_script(SCRIPT, "--learning-rates", "0.003", "0.0030")
    assert sorted(path.name for path in run.run_dir.glob("lr_*")) == ["lr_0.003"]
    assert "Note: --learning-rates repeats a rate: training 0.003 once each." in run.stdout
    # One training in the run: one event file, each batch logged once.
    assert len(list((run.run_dir / "lr_0.003" / "train").glob("events.out.tfevents.*"))) == 1
    steps = [step for step, _ in tb_read.scalar_series(tb_read.load(run.run_dir / "lr_0.003" / "train"), "batch_loss")]
    assert steps == sorted(set(steps))
    assert "tensorboard --logdir" in run.stdout


def test_distinct_rates_keeps_the_first_of_rates_that_share_a_run_directory(capsys):
    # 0.001 and 0.0010 would both write lr_0.001: two trainings mixed into one run.
    assert scalars_script.distinct_rates([0.01, 0.001, 0.0010, 0.01]) == [0.01, 0.001]
    assert capsys.readouterr().out == "Note: --learning-rates repeats a rate: training 0.01 0.001 once each.\n"
    assert scalars_script.distinct_rates([0.1, 0.01]) == [0.1, 0.01]
    assert capsys.readouterr().out == ""


def test_it_sends_the_learner_to_the_scalars_tab_in_a_plain_sentence(scalars_run):
    assert re.search(r"^Then open http://localhost:6006 and the Scalars tab\.$", scalars_run.stdout, re.MULTILINE)
