"""06_hparams.py: the experiment config, one row per trial of every run, selection on a validation split.

The script's own code is tested: its parser, its trial choice, its notes and its validation split, imported as a
module. Runs of the script: one with two epochs (curves); a run, the same run again and a --fit run into one
logdir, read back by the real server (each run's own directory, and the lesson's), and the Parallel Coordinates
view of one run in a real browser.
"""

import collections
import importlib
import itertools
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from tensorboard.plugins.hparams import metadata as hparams_metadata

import plumbing
import starter

from support import tb_read
from support.scripts import ROOT, assert_quiet, run_python
from tensorboard_server import CHROMIUM_FLAGS, running_tensorboard

hparams_script = importlib.import_module("06_hparams")

VALIDATION_TAGS = {"validation_accuracy", "validation_loss"}
# The declared columns, as (group, tag), of each way of logging: a default run's, which the script writes into each
# trial's run, and a --fit run's, which Keras' TensorBoard callback writes into each trial's `validation` run. The
# selected trial's test accuracy is not one: only that trial could fill it.
DECLARED_METRICS = {("", "validation_accuracy"), ("", "validation_loss")}
FIT_DECLARED_METRICS = {("validation", "epoch_accuracy"), ("validation", "epoch_loss")}
EPOCHS = 2


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
    # Its test accuracy is a scalar in its run (the Scalars tab), once, at the last epoch; no other trial has one,
    # and it is no HParams column (the experiment test above lists every column).
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


# ----- Trial choice, flags and notes, through the script's own parser ----------------------------------


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


def test_a_random_sample_is_a_subset_of_the_grid():
    sample = _names([["--trials", "10"]])
    assert len(set(sample)) == 10 and set(sample) <= set(_names([[]]))


def test_quick_with_trials_runs_that_many_trials_the_same_sample():
    assert _names([["--quick", "--trials", "5"]]) == _names([["--trials", "5"]])
    assert len(set(_names([["--quick", "--trials", "5"]]))) == 5


@pytest.mark.parametrize("argv", [["--trials", "100"], ["--trials", "100", "--quick"]])
def test_more_trials_than_the_grid_holds_run_the_grid_once_with_a_one_line_note(argv, capsys):
    assert sorted(_names([argv])) == sorted(_names([[]]))
    assert capsys.readouterr().out == "Note: --trials 100 is more than the grid's 36 trials: running all of them.\n"


@pytest.mark.parametrize("argv", [[], ["--quick"], ["--trials", "36"], ["--trials", "2", "--quick"]])
def test_no_note_when_no_flag_is_changed(argv, capsys):
    _names([argv])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argv", [["--trials", "0"], ["--trials", "many"], ["--shard", "1/2"], ["--experiment", "x"]])
def test_bad_flags_and_the_removed_ones_are_an_argparse_error(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        _args(argv)
    assert stopped.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: argument {argv[0]}" in last_line or f"unrecognized arguments: {argv[0]}" in last_line


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
    assert hparams_script.trial_id(35, "renamed") == "35 renamed"


# ----- Where to look: the view command, more runs than TensorBoard ticks, and several processes -------------


def _run_with_event_files(run_dir, count):
    """A run directory whose root and `count - 1` trial directories each hold an (empty) event file."""
    for directory in [run_dir] + [run_dir / f"trial-{number:02d}" for number in range(count - 1)]:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "events.out.tfevents.1.host.1.0.v2").write_bytes(b"")
    return run_dir


@pytest.mark.parametrize("count", [40, 41])
def test_the_closing_lines_say_when_the_run_holds_more_runs_than_tensorboard_ticks(count, tmp_path, capsys):
    hparams_script.print_where_to_look(_run_with_event_files(tmp_path / "06_hparams" / "run", count))
    lines = capsys.readouterr().out.splitlines()
    above = [line for line in lines if "Toggle all runs" in line]
    if count > plumbing.MAX_RUNS_TICKED:
        # The line that names the tab says how many runs this run holds, and what to press.
        # The line that names the tab, and the compare line (the lesson's directory holds the same runs here).
        note = f'({count} runs: above 40, the run list ticks none: click "Toggle all runs" under it)'
        assert above[0] == f"Then open http://localhost:6006 and the HParams tab {note}."
        assert above[1].startswith("To compare it with earlier runs:") and above[1].endswith(note)
        assert len(above) == 2
    else:
        assert above == []
    assert lines[-1] == "Searching over several processes or machines: see 14_keras_tuner.py."


def test_the_default_grid_stays_within_the_runs_tensorboard_ticks_and_fit_does_not():
    # A default run: the root (the experiment's declaration) and one run per trial. --fit adds each trial's
    # `train` and `validation` runs, so its full grid needs the note above.
    trials = len(hparams_script.all_trials())
    assert trials + 1 <= plumbing.MAX_RUNS_TICKED < 3 * trials + 1


def test_the_header_points_to_14_for_several_processes_and_has_no_shards():
    source = (ROOT / "06_hparams.py").read_text()
    assert "14_keras_tuner.py" in hparams_script.__doc__
    for removed in ("--shard", "--experiment", "claim", "getpid", "os.kill"):
        assert removed not in source, removed


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


# ----- A run, the same run again and a --fit run in one logdir, as the dashboard shows them ---------------

SAMPLE = 4  # trials of the first two runs: enough lines to count in Parallel Coordinates, still seconds


@pytest.fixture(scope="module")
def several_runs(tmp_path_factory):
    """Into one logdir: a run of SAMPLE trials, the same command again, and a --fit run of --quick's two trials.
    Returns the logdir and {label: (stdout, run directory)}."""
    logdir = tmp_path_factory.mktemp("hparams-logs")
    common = ["06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(logdir)]
    runs = {}
    sample = ["--trials", str(SAMPLE)]
    for label, extra in (("first", sample), ("again", sample), ("fit", ["--fit"])):
        result = run_python(*common, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert_quiet(result.stderr)
        run_dir = Path(re.search(r"^Logs written to (.+)$", result.stdout, re.MULTILINE).group(1))
        runs[label] = (result.stdout, run_dir)
    return logdir, runs


def _metric_values(group):
    return {(metric["name"]["group"], metric["name"]["tag"]): metric["value"] for metric in group["metricValues"]}


@pytest.mark.parametrize(("label", "declared"), [("first", DECLARED_METRICS), ("fit", FIT_DECLARED_METRICS)])
def test_in_a_runs_own_directory_every_declared_metric_has_a_value_in_every_row(several_runs, label, declared):
    """What Parallel Coordinates and the Scatter Plot Matrix need to draw a row: a value in every declared column."""
    _, runs = several_runs
    stdout, run_dir = runs[label]
    trials = len(re.findall(r"^Trial \d+/\d+: ", stdout, re.MULTILINE))
    # The directory the script's view command names.
    with running_tensorboard(run_dir) as server:
        server.wait_until(lambda: len(server.session_groups()) == trials, what=f"{trials} session groups")
        groups = server.session_groups()
        experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    assert {(info["name"]["group"], info["name"]["tag"]) for info in experiment["metricInfos"]} == declared
    for group in groups:
        assert len(group["sessions"]) == 1, group
        metrics = _metric_values(group)
        assert set(metrics) == declared, group
        assert all(np.isfinite(value) for value in metrics.values()), group
        assert set(group["hparams"]) == {"units", "dropout", "learning_rate"}
        if label == "fit":
            # hp.KerasCallback writes the session's end, with its status.
            assert group["sessions"][0]["status"] == "STATUS_SUCCESS"


def test_a_rerun_adds_rows_to_the_lesson_directory_and_never_merges_them(several_runs):
    logdir, runs = several_runs
    experiment_root = logdir / "06_hparams"
    run_names = sorted(run_dir.name for _, run_dir in runs.values())
    assert sorted(path.name for path in experiment_root.iterdir()) == run_names
    # The rerun ran the same sample of the grid: the same trial directories, in a run directory of its own.
    same = [sorted(path.name for path in runs[label][1].iterdir() if path.is_dir()) for label in ("first", "again")]
    assert same[0] == same[1] and len(same[0]) == SAMPLE
    with running_tensorboard(experiment_root) as server:
        rows = 2 * SAMPLE + 2
        server.wait_until(lambda: len(server.session_groups()) == rows, what=f"{rows} session groups")
        groups = server.session_groups()
    # One session a row, told apart by the part of its id that the column shows; each run has its own rows.
    assert all(len(group["sessions"]) == 1 for group in groups)
    assert len({group["name"][:14] for group in groups}) == rows
    per_run = collections.Counter(group["sessions"][0]["name"].split("/")[0] for group in groups)
    assert per_run == {runs["first"][1].name: SAMPLE, runs["again"][1].name: SAMPLE, runs["fit"][1].name: 2}


def test_fit_adds_rows_with_the_validation_metrics_of_keras_callback(several_runs):
    _, runs = several_runs
    stdout, fit_dir = runs["fit"]
    assert {(metric.name.group, metric.name.tag) for metric in experiment_config(fit_dir).metric_infos} == (
        FIT_DECLARED_METRICS
    )
    trial_dirs = sorted(path for path in fit_dir.iterdir() if path.is_dir())
    assert len(trial_dirs) == 2
    printed = dict(re.findall(r"^Trial \d/2: (\S+)\n.*val_accuracy: ([0-9.]+)", stdout, re.MULTILINE))
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
    # Selected the same way, the best validation accuracy; its test accuracy is a scalar in its own run.
    best = re.search(r"^Best of the 2 trials by validation accuracy: (\S+) ", stdout, re.MULTILINE)
    assert float(printed[best.group(1)]) == max(float(value) for value in printed.values())
    (tested,) = re.findall(r"^Its accuracy on the held-out test split: ([0-9.]+)", stdout, re.MULTILINE)
    ((_, value),) = tb_read.scalar_series(tb_read.load(fit_dir / best.group(1)), "test_accuracy")
    assert value == pytest.approx(float(tested), abs=1e-4)


# ----- A real browser: the Parallel Coordinates view draws every trial -------------------------------------

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed: sudo apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright's own browser download can't work offline: use Debian's Chromium.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _drawn_lines(page):
    """The `d` attribute of every visible line of the Parallel Coordinates plot (one per session group)."""
    lines = page.locator("tf-hparams-parallel-coords-plot g.foreground path").filter(visible=True)
    return [lines.nth(index).get_attribute("d") or "" for index in range(lines.count())]


def test_parallel_coordinates_draws_one_line_per_trial_across_every_axis(several_runs, browser, tmp_path):
    _, runs = several_runs
    _, run_dir = runs["first"]
    with running_tensorboard(run_dir) as server:
        server.wait_until(lambda: len(server.session_groups()) == SAMPLE, what="the session groups")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server.url}/#hparams")
        page.get_by_text("Validation accuracy").filter(visible=True).first.wait_for(timeout=60_000)
        # The one click: the view. Nothing is unticked or sorted.
        page.get_by_text(re.compile(r"^\s*parallel coordinates view\s*$", re.IGNORECASE)).first.click()
        # The lines are drawn once the page has the session groups; then the plot has settled.
        for _ in range(120):
            if len(_drawn_lines(page)) >= SAMPLE:
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(tmp_path / "06_parallel_coordinates.png"))
        lines = _drawn_lines(page)
        # Each line crosses all five axes (three hyperparameters, two metrics): a move and four segments.
        assert len(lines) == SAMPLE, lines
        for line in lines:
            assert line.startswith("M") and line.count("L") == 4 and "NaN" not in line, line
        # The Scatter Plot Matrix, drawn in the same page: one point per trial in each of its cells.
        cells = page.locator("tf-hparams-scatter-plot-matrix-plot g.cell").count()
        points = page.locator("tf-hparams-scatter-plot-matrix-plot circle.data-marker").count()
        assert cells > 0 and points == SAMPLE * cells, (cells, points)
        page.close()
