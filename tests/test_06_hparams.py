"""06_hparams.py: the experiment config, one row per trial of every run, selection on a validation split.

The script's own code is tested: its parser, its trial choice, its trial claims and its validation split,
imported as a module. Runs of the script: one with two epochs (curves), a plain run and a --fit run into one
logdir with two shards and two processes started at once on one --experiment, read back by the real server.
"""

import ctrl_c

import collections
import importlib
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tb_read
from conftest import ROOT, assert_quiet, run_python
from shared_checks import interrupt_at
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard_server import running_tensorboard

import plumbing
import starter

hparams_script = importlib.import_module("06_hparams")

VALIDATION_TAGS = {"validation_accuracy", "validation_loss"}
# The declared columns, as (group, tag): the default way's, the selected trial's test accuracy, and --fit's,
# which Keras' TensorBoard callback writes into each trial's `validation` run.
DECLARED_METRICS = {
    ("", "validation_accuracy"),
    ("", "validation_loss"),
    ("", "test_accuracy"),
    ("validation", "epoch_accuracy"),
    ("validation", "epoch_loss"),
}
EPOCHS = 2
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def experiment_config(experiment_dir):
    run = tb_read.load(experiment_dir)
    content = run.SummaryMetadata(hparams_metadata.EXPERIMENT_TAG).plugin_data.content
    return hparams_metadata.parse_experiment_plugin_data(content)


def session_start_info(trial_dir):
    run = tb_read.load(trial_dir)
    content = run.SummaryMetadata(hparams_metadata.SESSION_START_INFO_TAG).plugin_data.content
    return hparams_metadata.parse_session_start_info_plugin_data(content)


def session_hparams(trial_dir):
    """The hparam values of one trial, as the dashboard reads them: {name: value}."""
    return {name: value.number_value for name, value in session_start_info(trial_dir).hparams.items()}


@pytest.fixture(scope="module")
def hparams_run(run_script):
    """Two epochs per trial, so that every curve has more than one point."""
    return run_script("06_hparams.py", "--epochs", str(EPOCHS))


def test_the_experiment_declares_three_hparams_and_the_metric_columns(hparams_run):
    config = experiment_config(hparams_run.run_dir)
    assert {hparam.name for hparam in config.hparam_infos} == {"units", "dropout", "learning_rate"}
    assert {(metric.name.group, metric.name.tag) for metric in config.metric_infos} == DECLARED_METRICS


def test_every_trial_has_its_hparams_and_per_epoch_curves(hparams_run):
    trial_dirs = sorted(path for path in hparams_run.run_dir.iterdir() if path.is_dir())
    assert len(trial_dirs) == 2
    grid = hparams_script.all_trials()
    expected = [grid[0], grid[-1]]
    for trial_dir, trial in zip(trial_dirs, expected, strict=True):
        values = session_hparams(trial_dir)
        assert values == pytest.approx({hparam.name: value for hparam, value in trial.items()})
        # The validation metrics and the training curves, one point per epoch at steps 0, 1: the Scalars tab and
        # the row's metric plots.
        tags = {*VALIDATION_TAGS, "training_accuracy", "training_loss"}
        run = tb_read.assert_epoch_scalars(trial_dir, tags, EPOCHS)
        for tag in ("validation_accuracy", "training_accuracy"):
            assert all(0.0 <= value <= 1.0 for _, value in tb_read.scalar_series(run, tag))
        assert not {"test_loss", "epoch_accuracy"} & tb_read.plugin_tags(run, "scalars")


def test_the_curves_are_the_epochs_keras_printed(hparams_run):
    """The logged epoch values are the ones model.fit printed for each trial (to its 4 decimals)."""
    printed = re.findall(
        r" - accuracy: ([0-9.]+) - loss: ([0-9.]+) - val_accuracy: ([0-9.]+) - val_loss: ([0-9.]+)$",
        hparams_run.stdout,
        re.MULTILINE,
    )
    assert len(printed) == 2 * EPOCHS
    trial_dirs = sorted(path for path in hparams_run.run_dir.iterdir() if path.is_dir())
    logged = []
    for trial_dir in trial_dirs:
        run = tb_read.load(trial_dir)
        series = [
            [value for _, value in tb_read.scalar_series(run, tag)]
            for tag in ("training_accuracy", "training_loss", "validation_accuracy", "validation_loss")
        ]
        logged.extend(zip(*series, strict=True))
    assert np.allclose(np.array(logged), np.array(printed, dtype=float), atol=6e-5)


def test_the_best_trial_by_validation_is_measured_on_the_test_split_once_and_logged(hparams_run):
    trial_dirs = {path.name: path for path in hparams_run.run_dir.iterdir() if path.is_dir()}
    best = re.search(
        r"^Best of the 2 trials by validation accuracy: (\S+) \(([0-9.]+)\)$", hparams_run.stdout, re.MULTILINE
    )
    assert best and best.group(1) in trial_dirs
    # Selected on the last epoch's validation accuracy.
    logged = {
        name: tb_read.scalar_series(tb_read.load(path), "validation_accuracy")[-1][1]
        for name, path in trial_dirs.items()
    }
    assert logged[best.group(1)] == max(logged.values())
    assert float(best.group(2)) == pytest.approx(max(logged.values()), abs=1e-4)
    tested = re.findall(r"^Its accuracy on the held-out test split: ([0-9.]+)", hparams_run.stdout, re.MULTILINE)
    assert len(tested) == 1 and 0.0 <= float(tested[0]) <= 1.0
    # Its test accuracy is in its run (the row's Test accuracy column), once, at the last epoch; no other
    # trial has one.
    for name, path in trial_dirs.items():
        run = tb_read.load(path)
        if name == best.group(1):
            ((step, value),) = tb_read.scalar_series(run, "test_accuracy")
            assert step == EPOCHS - 1 and value == pytest.approx(float(tested[0]), abs=1e-4)
        else:
            assert "test_accuracy" not in tb_read.plugin_tags(run, "scalars")
    # No trial is scored on the test split before the selection.
    assert "test" not in hparams_run.stdout.split("Best of")[0].replace("held-out test images", "")


# ----- The validation split: held out of the training data, stratified, fixed --------------------------


@pytest.fixture(scope="module")
def quick_digits():
    return starter.load_dataset("digits", quick=True, verbose=False)


def _examples(data):
    images, labels = (tensor.numpy() for tensor in data.batch(100_000).get_single_element())
    return images, labels


def _as_rows(images, labels):
    return collections.Counter((image.tobytes(), int(label)) for image, label in zip(images, labels, strict=True))


def test_the_validation_slice_comes_out_of_the_training_data_and_is_stratified(quick_digits):
    training_part, validation_part = starter.hold_out_validation(quick_digits)
    train_images, train_labels = _examples(training_part.train)
    validation_images, validation_labels = _examples(validation_part.test)
    assert len(train_labels) == training_part.num_train
    assert len(validation_labels) == validation_part.num_test
    assert len(validation_labels) == round(quick_digits.num_train * starter.VALIDATION_FRACTION)
    # Together they are exactly the training examples, each once; the test split is not touched.
    everything = _as_rows(*_examples(quick_digits.train))
    assert _as_rows(train_images, train_labels) + _as_rows(validation_images, validation_labels) == everything
    # Stratified: each class's share of the validation slice is its share of the training data, within one image.
    counts = np.bincount(validation_labels, minlength=10)
    expected = np.bincount(_examples(quick_digits.train)[1], minlength=10) * len(validation_labels) / len(everything)
    assert np.all(np.abs(counts - expected) <= 1.0), (counts, expected)


def test_the_validation_slice_is_the_same_in_every_run(quick_digits):
    first = _examples(starter.hold_out_validation(quick_digits)[1].test)
    second = _examples(starter.hold_out_validation(quick_digits)[1].test)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_a_tfds_dataset_holds_out_the_last_slice_of_its_training_split(quick_digits):
    # The tensorflow_datasets path only slices: any Dataset not named "digits" takes it.
    as_tfds = quick_digits.__class__(**{**quick_digits.__dict__, "name": "mnist"})
    training_part, validation_part = starter.hold_out_validation(as_tfds)
    all_images, all_labels = _examples(quick_digits.train)
    assert np.array_equal(_examples(training_part.train)[1], all_labels[: training_part.num_train])
    assert np.array_equal(_examples(validation_part.test)[1], all_labels[training_part.num_train :])


# ----- Trial choice and flags, through the script's own parser ------------------------------------------


def _args(argv):
    return plumbing.parse_args(hparams_script.make_parser(), argv)


def _names(args_list):
    return [
        hparams_script.trial_name(*trial) for argv in args_list for trial in hparams_script.choose_trials(_args(argv))
    ]


def test_the_default_is_the_full_grid_of_36_trials():
    assert len(_names([[]])) == 36 == len(set(_names([[]])))


def test_quick_runs_the_two_corners_of_the_grid():
    assert [name[:8] for name in _names([["--quick"]])] == ["trial-00", "trial-35"]


@pytest.mark.parametrize("extra", [[], ["--trials", "10"]])
@pytest.mark.parametrize("count", [2, 3])
def test_shards_cover_the_trials_exactly_once(extra, count):
    whole = _names([extra])
    sharded = _names([[*extra, "--shard", f"{index}/{count}"] for index in range(1, count + 1)])
    assert sorted(sharded) == sorted(whole)


def test_a_random_sample_is_a_subset_of_the_grid():
    sample = _names([["--trials", "10"]])
    assert len(set(sample)) == 10 and set(sample) <= set(_names([[]]))


@pytest.mark.parametrize("argv", [["--shard", "0/2"], ["--shard", "3/2"], ["--shard", "1"], ["--trials", "0"]])
def test_bad_flags_of_its_own_are_an_argparse_error(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        _args(argv)
    assert stopped.value.code == 2
    assert f"error: argument {argv[0]}" in capsys.readouterr().err.strip().splitlines()[-1]


def test_grid_order_is_the_product_of_the_domains():
    units, dropout, rate = (param.domain.values for param in hparams_script.HPARAMS)
    expected = [
        dict(zip(hparams_script.HPARAMS, combo, strict=True)) for combo in itertools.product(units, dropout, rate)
    ]
    assert hparams_script.all_trials() == expected


def test_help_says_what_fit_does():
    help_text = " ".join(hparams_script.make_parser().format_help().split())
    assert "--fit" in help_text and "hp.KerasCallback" in help_text and "keras.callbacks.TensorBoard" in help_text


def test_a_trial_id_leads_with_the_trial_number_and_the_run_time():
    assert hparams_script.trial_id(7, "20261202-000512") == "07 000512 20261202"
    assert hparams_script.trial_id(7, "20261202-000512-2") == "07 000512-2 20261202"
    assert hparams_script.trial_id(35, "sweep") == "35 sweep"


# ----- Claiming a trial: the rule, in-process -----------------------------------------------------------


def _write_claim(trial_dir, number, claimant):
    trial_dir.mkdir(exist_ok=True)
    (trial_dir / f"claim-{number}").write_text(claimant + "\n")


def _gone_pid():
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_free_trial_is_claimed_by_this_process(tmp_path):
    trial_dir = tmp_path / "trial-00"
    assert hparams_script.claim_trial(trial_dir) is None
    assert (trial_dir / "claim-1").read_text().strip() == f"{socket.gethostname()}:{os.getpid()}"


def test_a_trial_claimed_by_a_running_process_is_skipped(tmp_path):
    trial_dir = tmp_path / "trial-00"
    with subprocess.Popen(["sleep", "60"]) as sleeper:
        try:
            _write_claim(trial_dir, 1, f"{socket.gethostname()}:{sleeper.pid}")
            reason = hparams_script.claim_trial(trial_dir)
        finally:
            sleeper.kill()
    assert reason == f"is being run by process {socket.gethostname()}:{sleeper.pid}"
    assert sorted(path.name for path in trial_dir.iterdir()) == ["claim-1"]


def test_a_claim_from_another_machine_counts_as_running(tmp_path):
    trial_dir = tmp_path / "trial-00"
    _write_claim(trial_dir, 1, "another-machine.example:1")
    assert hparams_script.claim_trial(trial_dir).startswith("is being run by process another-machine.example:1")


def test_a_trial_stopped_before_it_logged_is_claimed_again(tmp_path):
    trial_dir = tmp_path / "trial-00"
    _write_claim(trial_dir, 1, f"{socket.gethostname()}:{_gone_pid()}")
    assert hparams_script.claim_trial(trial_dir) is None
    assert (trial_dir / "claim-2").read_text().strip() == f"{socket.gethostname()}:{os.getpid()}"


def test_a_claim_of_this_very_process_is_an_earlier_stopped_call_and_is_claimed_again(tmp_path):
    """In a Jupyter kernel, a lesson stopped by the stop button leaves this process's claim behind."""
    trial_dir = tmp_path / "trial-00"
    _write_claim(trial_dir, 1, f"{socket.gethostname()}:{os.getpid()}")
    assert hparams_script.claim_trial(trial_dir) is None
    assert (trial_dir / "claim-2").exists()


@pytest.mark.parametrize("where", [".", "validation"])
def test_a_trial_with_events_is_never_written_again(tmp_path, where):
    trial_dir = tmp_path / "trial-00"
    _write_claim(trial_dir, 1, f"{socket.gethostname()}:{_gone_pid()}")
    (trial_dir / where).mkdir(exist_ok=True)
    (trial_dir / where / "events.out.tfevents.1.host.1.0.v2").write_bytes(b"")
    assert hparams_script.claim_trial(trial_dir) == "was run by an earlier process"
    assert not (trial_dir / "claim-2").exists()


def test_of_processes_claiming_one_trial_at_the_same_instant_exactly_one_wins(tmp_path):
    """Eight processes, forked from this one, claim one trial at one moment; each reports what it got."""
    trial_dir = tmp_path / "trial-00"
    tmp_path.joinpath("results").mkdir()
    start_at = time.time() + 0.5
    children = []
    for index in range(8):
        child = os.fork()
        if child == 0:  # the child: claim at the agreed moment, report, stay alive a moment, and leave
            code = 0
            try:
                while time.time() < start_at:
                    pass
                reason = hparams_script.claim_trial(trial_dir)
                tmp_path.joinpath("results", str(index)).write_text(reason or "claimed")
                time.sleep(1.0)  # alive while the others look at its claim
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(child)
    for child in children:
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    results = [path.read_text() for path in tmp_path.joinpath("results").iterdir()]
    assert len(results) == 8 and results.count("claimed") == 1, results
    assert sorted(path.name for path in trial_dir.iterdir()) == ["claim-1"]


# ----- Every writer is closed when main() returns ------------------------------------------------------


def _open_event_files(logdir):
    """The event files under `logdir` that this process still holds open (its summary writers)."""
    held = set()
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith(str(logdir)) and "tfevents" in target:
            held.add(target)
    return held


@pytest.mark.parametrize("mode", [[], ["--fit"]], ids=["default", "fit"])
def test_every_writer_is_closed_once_its_part_is_written(tmp_path, mode, capsys, monkeypatch):
    """When a trial starts and when the test accuracy is logged, no earlier writer (the config's, a trial's, the
    callbacks') still holds its event file open; nor any when main() returns."""
    logdir = tmp_path / "logs"
    held_at = []

    def watched(function, moment):
        def call(*args, **kwargs):
            held_at.append((moment, _open_event_files(logdir)))
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(hparams_script, "build_model", watched(hparams_script.build_model, "a trial starts"))
    monkeypatch.setattr(hparams_script, "log_test_accuracy", watched(hparams_script.log_test_accuracy, "test"))
    hparams_script.main(["--quick", "--dataset", "digits", "--logdir", str(logdir), *mode])
    capsys.readouterr()
    held_at.append(("main returned", _open_event_files(logdir)))
    assert [moment for moment, _ in held_at] == ["a trial starts", "a trial starts", "test", "main returned"]
    assert len(list(logdir.rglob("events.out.tfevents.*"))) >= 3  # the config and at least one per trial
    assert all(held == set() for _, held in held_at), held_at


# ----- Runs of every kind in one logdir, as the dashboard shows them -------------------------------------


def _start(logdir, *extra):
    command = [sys.executable, "06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(logdir), *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def several_runs(tmp_path_factory):
    """Into one logdir: a plain --quick run, a --fit run, the two shards of one --experiment, then two processes
    started at once on another --experiment (no --shard: both go for every trial)."""
    logdir = tmp_path_factory.mktemp("hparams-logs")
    common = ["06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(logdir)]
    outputs = {}
    for label, extra in (
        ("plain", []),
        ("fit", ["--fit"]),
        ("shard 1", ["--experiment", "sweep", "--shard", "1/2"]),
        ("shard 2", ["--experiment", "sweep", "--shard", "2/2"]),
    ):
        result = run_python(*common, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert_quiet(result.stderr)
        outputs[label] = result.stdout
    together = [_start(logdir, "--experiment", "shared") for _ in range(2)]
    for index, process in enumerate(together, start=1):
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-2000:]
        assert_quiet(stderr)
        outputs[f"together {index}"] = stdout
    return logdir, outputs


def _all_session_groups(server):
    request = {
        "experimentName": "",
        "allowedStatuses": ALL_STATUSES,
        "colParams": [],
        "startIndex": 0,
        "sliceSize": 100,
    }
    return server.post("/data/plugin/hparams/session_groups", request)["sessionGroups"]


def test_every_trial_of_every_run_is_its_own_row_in_the_real_dashboard(several_runs):
    logdir, _ = several_runs
    experiment_root = logdir / "06_hparams"
    runs = sorted(path.name for path in experiment_root.iterdir())
    assert len(runs) == 4 and {"sweep", "shared"} <= set(runs)
    # The logdir the scripts' view command opens.
    with running_tensorboard(experiment_root) as server:
        server.wait_until(lambda: len(_all_session_groups(server)) == 8, what="eight session groups")
        groups = _all_session_groups(server)
        experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    assert {(info["name"]["group"], info["name"]["tag"]) for info in experiment["metricInfos"]} == DECLARED_METRICS
    # Eight rows, two per run: each one session, told apart by the part of its id that the column shows.
    assert len({group["name"][:14] for group in groups}) == 8
    per_run = collections.Counter(group["sessions"][0]["name"].split("/")[0] for group in groups)
    assert per_run == {run: 2 for run in runs}
    tested = collections.Counter()
    for group in groups:
        assert len(group["sessions"]) == 1, group
        run = group["sessions"][0]["name"].split("/")[0]
        metrics = {
            (metric["name"]["group"], metric["name"]["tag"]): metric["value"] for metric in group["metricValues"]
        }
        assert all(np.isfinite(value) for value in metrics.values())
        # A default row has the validation columns, a --fit row the columns of Keras' callback, and its status.
        validation = {("", "validation_accuracy"), ("", "validation_loss")}
        from_fit = {("validation", "epoch_accuracy"), ("validation", "epoch_loss")}
        assert set(metrics) - {("", "test_accuracy")} in (validation, from_fit), metrics
        if set(metrics) >= from_fit:
            assert group["sessions"][0]["status"] == "STATUS_SUCCESS"
        tested[run] += ("", "test_accuracy") in metrics
    # The selected trial of a whole run has the test accuracy; a process that ran part of an experiment (a shard,
    # or one of two processes sharing it) selects nothing and leaves the test split alone.
    plain_and_fit = [run for run in runs if run not in {"sweep", "shared"}]
    assert [tested[run] for run in plain_and_fit] == [1, 1]
    assert tested["sweep"] == 0 and tested["shared"] == 0


def test_fit_adds_rows_with_the_validation_metrics_of_keras_callback(several_runs):
    logdir, outputs = several_runs
    fit_dir = Path(re.search(r"^Logs written to (.+)$", outputs["fit"], re.MULTILINE).group(1))
    trial_dirs = sorted(path for path in fit_dir.iterdir() if path.is_dir())
    assert len(trial_dirs) == 2
    printed = dict(re.findall(r"^Trial \d/2: (\S+)\n.*val_accuracy: ([0-9.]+)", outputs["fit"], re.MULTILINE))
    for trial_dir in trial_dirs:
        # hp.KerasCallback's row: the trial's hparams, with the script's trial id.
        number = int(trial_dir.name[len("trial-") :][:2])
        assert session_start_info(trial_dir).group_name == hparams_script.trial_id(number, fit_dir.name)
        assert set(session_hparams(trial_dir)) == {"units", "dropout", "learning_rate"}
        # keras.callbacks.TensorBoard's curves, at epoch 0, in the trial's train and validation runs.
        tb_read.assert_epoch_scalars(trial_dir / "train", {"epoch_accuracy", "epoch_loss"}, 1)
        validation = tb_read.assert_epoch_scalars(trial_dir / "validation", {"epoch_accuracy", "epoch_loss"}, 1)
        ((_, accuracy),) = tb_read.scalar_series(validation, "epoch_accuracy")
        assert accuracy == pytest.approx(float(printed[trial_dir.name]), abs=6e-5)
    # Selected the same way: the best validation accuracy.
    best = re.search(r"^Best of the 2 trials by validation accuracy: (\S+) ", outputs["fit"], re.MULTILINE)
    assert float(printed[best.group(1)]) == max(float(value) for value in printed.values())


def _session_starts(trial_dir):
    """How many times the trial's hparams were written, over every event file of its run."""
    count = 0
    for event_file in trial_dir.glob("events.out.tfevents.*"):
        for event in event_file_loader.EventFileLoader(str(event_file)).Load():
            count += any(value.tag == hparams_metadata.SESSION_START_INFO_TAG for value in event.summary.value)
    return count


def test_two_processes_at_once_on_one_experiment_never_write_one_trial(several_runs):
    logdir, outputs = several_runs
    shared = logdir / "06_hparams" / "shared"
    trial_dirs = sorted(path for path in shared.iterdir() if path.is_dir())
    assert len(trial_dirs) == 2
    ran_by = collections.Counter()
    for trial_dir in trial_dirs:
        # One claim; every event file of the trial written by the process that holds it; one set of hparams;
        # one point per curve.
        (claim,) = trial_dir.glob("claim-*")
        claimant_pid = claim.read_text().strip().rpartition(":")[2]
        writers = {path.name.split(".")[-3] for path in trial_dir.rglob("events.out.tfevents.*")}
        assert writers == {claimant_pid}
        assert _session_starts(trial_dir) == 1
        tb_read.assert_epoch_scalars(trial_dir, VALIDATION_TAGS, 1)
        # In the processes' own words: one ran it, the other (if it got that far) skipped it.
        for label in ("together 1", "together 2"):
            ran_by[trial_dir.name] += bool(re.search(rf"^Trial \d/2: {trial_dir.name}$", outputs[label], re.MULTILINE))
    assert ran_by == {trial_dir.name: 1 for trial_dir in trial_dirs}
    skipped = re.findall(r"^Trial \d/2: (\S+) .*: skipped$", outputs["together 1"] + outputs["together 2"], re.M)
    assert len(skipped) == 2 and set(skipped) == {trial_dir.name for trial_dir in trial_dirs}


def test_a_shard_selects_nothing_and_leaves_the_test_split_alone(several_runs):
    _, outputs = several_runs
    for label in ("shard 1", "shard 2", "together 1", "together 2"):
        stdout = outputs[label]
        assert not re.search(r"^Its accuracy on the held-out test split: ", stdout, re.MULTILINE), label
        # A process that found every trial taken ran none: it has nothing to select either.
        assert "selects nothing and leaves the test split alone" in stdout or "ran none of its" in stdout, label
    for label in ("shard 1", "shard 2"):
        best = r"^Best of the 1 trials this process ran, by validation accuracy: trial-"
        assert re.search(best, outputs[label], re.MULTILINE)
    for label in ("plain", "fit"):
        assert len(re.findall(r"^Its accuracy on the held-out test split: ", outputs[label], re.MULTILINE)) == 1
        assert "selects nothing" not in outputs[label]


def test_a_shard_run_again_skips_its_trial_and_leaves_it_as_it_was(several_runs):
    logdir, _ = several_runs
    sweep = logdir / "06_hparams" / "sweep"
    before = {path: path.stat().st_size for path in sweep.rglob("*") if path.is_file() and path.parent != sweep}
    common = ["06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(logdir)]
    again = run_python(*common, "--experiment", "sweep", "--shard", "1/2")
    assert again.returncode == 0, again.stderr[-2000:]
    assert_quiet(again.stderr)
    assert re.search(r"^Trial 1/1: trial-00-\S+ was run by an earlier process: skipped$", again.stdout, re.M)
    assert "pick a new --experiment name" in again.stdout
    assert "Its accuracy on the held-out test split" not in again.stdout
    after = {path: path.stat().st_size for path in sweep.rglob("*") if path.is_file() and path.parent != sweep}
    assert after == before
    config = experiment_config(sweep)
    assert {hparam.name for hparam in config.hparam_infos} == {"units", "dropout", "learning_rate"}


def test_a_trial_stopped_by_ctrl_c_is_run_again_by_the_next_process(tmp_path):
    """Ctrl-C while the first trial trains leaves its claim and no events; the same command run again claims
    the trial anew, runs it, and runs the other trial too."""
    code, stdout, _ = interrupt_at("06_hparams.py", ("--experiment", "again"), "stdout", "Trial 1/2", 1, tmp_path)
    assert code == ctrl_c.EXIT_CTRL_C
    experiment = tmp_path / "06_hparams" / "again"
    (stopped,) = (path for path in experiment.iterdir() if path.is_dir())
    assert [path.name for path in stopped.iterdir()] == ["claim-1"]
    result = run_python(
        "06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(tmp_path), "--experiment", "again"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert_quiet(result.stderr)
    assert f"Trial 1/2: {stopped.name}\n" in result.stdout and "skipped" not in result.stdout
    assert sorted(path.name for path in stopped.glob("claim-*")) == ["claim-1", "claim-2"]
    assert _session_starts(stopped) == 1
    assert len([path for path in experiment.iterdir() if path.is_dir()]) == 2
