"""14_keras_tuner.py: a chief and two workers give one HParams row per trial with its metrics (read from the real
server), the best trial is the one printed, a second run starts afresh; Ctrl-C stops every process."""

import ctrl_c

import re

import numpy as np
import pytest

from support import tb_read
from support.shared_checks import assert_no_process_left, interrupt_at
from tensorboard_server import running_tensorboard

TRIALS = 4
DECLARED_METRICS = {("validation", "epoch_accuracy"), ("validation", "epoch_loss")}
TF_STARTUP_LINE = re.compile(
    r"^([IWE]\d{4} |WARNING: All log messages before absl|To enable the following instructions)"
)


@pytest.fixture(scope="module")
def distributed(run_script):
    return run_script("14_keras_tuner.py", "--workers", "2", "--trials", str(TRIALS))


@pytest.fixture(scope="module")
def one_process(run_script):
    return run_script("14_keras_tuner.py", "--trials", "2")


@pytest.fixture(scope="module")
def dashboard(distributed):
    """The HParams experiment and its rows, as the real TensorBoard serves them for the run's directory."""
    with running_tensorboard(distributed.run_dir) as server:
        server.wait_until(lambda: len(server.session_groups()) >= TRIALS, what="a row per trial")
        experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
        return experiment, server.session_groups()


def row_metrics(group):
    return {(metric["name"]["group"], metric["name"]["tag"]): metric["value"] for metric in group["metricValues"]}


def test_every_trial_is_one_row_with_its_validation_metrics(dashboard):
    experiment, groups = dashboard
    assert {(info["name"]["group"], info["name"]["tag"]) for info in experiment["metricInfos"]} == DECLARED_METRICS
    assert len(groups) == TRIALS
    # No trial twice: each row is one session, and one trial's.
    assert len({group["name"] for group in groups}) == TRIALS
    for group in groups:
        assert len(group["sessions"]) == 1, group
        metrics = row_metrics(group)
        # Filled in, not empty columns (tensorflow/tensorboard#6907).
        assert set(metrics) == DECLARED_METRICS, group
        assert all(np.isfinite(value) for value in metrics.values())
        assert 0.0 <= metrics[("validation", "epoch_accuracy")] <= 1.0
        assert set(group["hparams"]) == {"units", "dropout", "learning_rate"}


def test_each_trial_has_its_curves_in_the_scalars_tab(distributed, dashboard):
    _, groups = dashboard
    for group in groups:
        trial_dir = distributed.run_dir / group["sessions"][0]["name"]
        for split in ("train", "validation"):
            tb_read.assert_epoch_scalars(trial_dir / split, {"epoch_loss", "epoch_accuracy"}, 1)


def test_the_printed_best_trial_is_the_best_row_and_was_tested(distributed, dashboard):
    _, groups = dashboard
    match = re.search(
        r"^chief \| Best trial: ID (\S+) in the HParams table \(KerasTuner's lines count from 1\): .*, "
        r"validation accuracy ([0-9.]+)$",
        distributed.stdout,
        re.M,
    )
    assert match, distributed.stdout[-3000:]
    accuracies = {group["name"]: row_metrics(group)[("validation", "epoch_accuracy")] for group in groups}
    # One epoch a trial (--quick): the trial's score is its row's validation accuracy.
    assert float(match.group(2)) == pytest.approx(max(accuracies.values()), abs=1e-4)
    assert accuracies[match.group(1)] == pytest.approx(max(accuracies.values()))
    assert re.search(r"^chief \| Its accuracy on the test split, measured once: [0-9.]+$", distributed.stdout, re.M)


def test_the_chief_and_both_workers_took_part_and_ended(distributed):
    trials_run = {
        name: len(re.findall(rf"^{name} \| \d+/\d+ - ", distributed.stdout, re.M)) for name in ("worker 1", "worker 2")
    }
    assert sum(trials_run.values()) == TRIALS and all(trials_run.values()), trials_run
    assert "KERASTUNER_ORACLE_IP=host0" in distributed.stdout
    assert_no_process_left(str(distributed.run_dir))


def test_a_run_in_one_process_starts_a_search_of_its_own(one_process, distributed):
    # Another run into the same logdir: a new run directory, and a tuner that reloads nothing.
    assert one_process.run_dir != distributed.run_dir
    assert "Reloading" not in one_process.stdout
    assert len(re.findall(r"^Trial \d+ Complete", one_process.stdout, re.M)) == 2
    assert (one_process.run_dir / "tuner" / "oracle.json").exists()
    # The best trial is named by its HParams ID, which KerasTuner's own lines show counted from 1.
    best = re.search(
        r"^Best trial: ID (\d+) in the HParams table .*validation accuracy ([0-9.]+)$", one_process.stdout, re.M
    )
    assert best, one_process.stdout[-3000:]
    kerastuner = re.search(
        rf"^Trial {int(best.group(1)) + 1} Complete .*\nval_accuracy: ([0-9.]+)$", one_process.stdout, re.M
    )
    assert kerastuner and float(kerastuner.group(1)) == pytest.approx(float(best.group(2)), abs=1e-4)


def test_the_run_warns_that_runs_viewed_together_merge_rows_of_the_same_trial(one_process, distributed):
    for run in (one_process, distributed):
        assert run.stdout.strip().splitlines()[-1] == (
            "Runs of 14 viewed together merge the rows of the same trial ID in HParams: compare them in Scalars,"
            " or view one run's directory."
        )
    # What it warns of: every search numbers its trials the same way, so the two runs share trial names.
    trials = [{path.parent.name for path in run.run_dir.glob("*/execution0")} for run in (one_process, distributed)]
    assert trials[0] and trials[0] <= trials[1], trials


def test_ctrl_c_stops_the_chief_and_the_workers_and_exits_130(tmp_path):
    code, stdout, stderr = interrupt_at(
        "14_keras_tuner.py", ("--workers", "2", "--trials", "4"), "stdout", "Search: Running Trial #1", 1, tmp_path
    )
    own_lines = [line for line in stderr.splitlines() if line.strip() and not TF_STARTUP_LINE.match(line)]
    assert code == ctrl_c.EXIT_CTRL_C, stderr[-3000:]
    assert own_lines == [ctrl_c.STOPPED_LINE], stderr[-3000:]
    assert "Logs written to" not in stdout
    assert_no_process_left(str(tmp_path))
    assert len(list(tmp_path.glob("14_keras_tuner/*/*.log"))) == 3
