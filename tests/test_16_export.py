"""16_export.py: every logged point in scalars.csv (read through TensorBoard's data server, or the pure-Python
fallback), the HParams table one row per session, a bounded figure and summary, and one line for bad input.

The logs are real runs of 02 and 06 (default and --fit), copied into a logdir of their own; each exported value
is checked against the event files read here with TensorBoard's lower-level reader, and the HParams table against
the real server's HParams API.
"""

import importlib
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from support.scripts import ROOT, assert_quiet, run_python

export = importlib.import_module("16_export")
import utils  # noqa: E402

SCRIPT = "16_export.py"
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


@pytest.fixture(scope="module")
def lesson_logdir(run_script, tmp_path_factory):
    """A logdir of its own holding one run of 02, one of 06 and one of 06 --fit (the session's shared runs)."""
    logdir = tmp_path_factory.mktemp("export") / "logs"
    for run in (
        run_script("02_scalars_custom_loop.py"),
        run_script("06_hparams.py"),
        run_script("06_hparams.py", "--fit"),
    ):
        shutil.copytree(run.run_dir, logdir / run.run_dir.parent.name / run.run_dir.name)
    return logdir


@pytest.fixture(scope="module")
def exported(lesson_logdir):
    """16_export.py run as a learner runs it; returns (the export directory, its stdout)."""
    out = lesson_logdir.parent / "export"
    result = run_python(SCRIPT, "--logdir", str(lesson_logdir), "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_quiet(result.stderr)
    return out, result.stdout


def event_file_points(logdir):
    """Every scalar point of every event file under `logdir`, read event by event: [(run, tag, step, wall, value)].

    A tag's metadata (its plugin) is written with its first event only, so it is remembered per run."""
    points = []
    for run_dir in sorted({path.parent for path in Path(logdir).rglob("*tfevents*")}):
        run, plugin_of_tag = run_dir.relative_to(logdir).as_posix(), {}
        for path in sorted(run_dir.glob("*tfevents*")):
            for event in event_file_loader.LegacyEventFileLoader(str(path)).Load():
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name:
                        plugin_of_tag.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
                    if value.HasField("simple_value"):
                        points.append((run, value.tag, event.step, event.wall_time, value.simple_value))
                    elif plugin_of_tag.get(value.tag) == "scalars":
                        number = float(tensor_util.make_ndarray(value.tensor))
                        points.append((run, value.tag, event.step, event.wall_time, number))
    return points


def read_scalars_csv(path):
    table = pd.read_csv(path, float_precision="round_trip")
    assert list(table.columns) == ["run", "tag", "step", "wall_time", "value"]
    return sorted(table.itertuples(index=False, name=None))


def assert_same_points(exported_points, expected_points):
    assert len(exported_points) == len(expected_points)
    for got, want in zip(exported_points, expected_points, strict=True):
        assert got[:3] == want[:3] and got[3] == want[3], (got, want)
        assert got[4] == want[4] or (math.isnan(got[4]) and math.isnan(want[4])), (got, want)


def test_scalars_csv_holds_every_point_of_the_event_files(lesson_logdir, exported):
    out, stdout = exported
    expected = sorted(event_file_points(lesson_logdir))
    assert_same_points(read_scalars_csv(out / "scalars.csv"), expected)
    # Some series is longer than EventAccumulator's default sample (10 tensors a tag): nothing was thinned.
    counts = pd.Series([(run, tag) for run, tag, *_ in expected]).value_counts()
    assert counts.max() > 10
    assert {"02_scalars_custom_loop", "06_hparams"} == {run.split("/")[0] for run, *_ in expected}
    run_dirs = {path.parent for path in lesson_logdir.rglob("*tfevents*")}
    assert f"Read {len(run_dirs)} runs under {lesson_logdir}: {len(expected):,} scalar points of " in stdout


def metric_name(group, tag):
    """A metric's column name in hparams.csv: its tag, after its group's run when it has one (`validation/loss`)."""
    return f"{group}/{tag}" if group else tag


def dashboard_table(logdir, trials):
    """The real dashboard's HParams table over `logdir` once it has `trials` rows: {trial id: {metric column:
    value}}, and its metric columns (named as in hparams.csv)."""
    from tensorboard_server import running_tensorboard

    runs = sorted({path.parent.relative_to(logdir).as_posix() for path in Path(logdir).rglob("*tfevents*")})
    request = {"experimentName": "", "allowedStatuses": ALL_STATUSES, "colParams": [], "startIndex": 0}
    with running_tensorboard(logdir, expected_runs=runs) as server:

        def rows():
            groups = server.post("/data/plugin/hparams/session_groups", {**request, "sliceSize": 1000})
            return {
                group["name"]: {
                    metric_name(metric["name"].get("group", ""), metric["name"]["tag"]): metric["value"]
                    for metric in group["metricValues"]
                }
                for group in groups["sessionGroups"]
            }

        seen = []

        def loaded():
            # Every run is listed, every row is there, and two reads half a second apart agree: all is loaded.
            seen.append(rows())
            return len(seen[-1]) == trials and len(seen) > 1 and seen[-2] == seen[-1]

        server.wait_until(loaded, what="every row of the HParams table")
        experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = [metric_name(m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]]
    return seen[-1], columns


def assert_same_table(table, dashboard_rows, columns):
    """hparams.csv's metric columns hold the dashboard's values, and nothing where the dashboard has none."""
    assert set(columns) <= set(table.columns)
    for trial_id, metrics in dashboard_rows.items():
        for column in columns:
            if column in metrics:
                assert table.loc[trial_id, column] == pytest.approx(metrics[column], rel=1e-12), (trial_id, column)
            else:
                assert math.isnan(table.loc[trial_id, column]), (trial_id, column)


def test_hparams_csv_has_a_row_per_session_with_its_run_and_the_dashboards_values(lesson_logdir, exported):
    out, stdout = exported
    table = pd.read_csv(out / "hparams.csv", float_precision="round_trip").set_index("run")
    assert list(table.columns[:4]) == ["trial_id", "units", "dropout", "learning_rate"]
    assert table.units.dtype == np.int64  # whole numbers stay integers (not 32.0)
    experiment_dirs = sorted((lesson_logdir / "06_hparams").iterdir())
    trial_dirs = [path for experiment_dir in experiment_dirs for path in experiment_dir.iterdir() if path.is_dir()]
    assert sorted(table.index) == sorted(path.relative_to(lesson_logdir).as_posix() for path in trial_dirs)
    for trial_dir in trial_dirs:
        start = session_start(trial_dir)
        row = table.loc[trial_dir.relative_to(lesson_logdir).as_posix()]
        assert str(row.trial_id) == start.group_name
        for name, value in start.hparams.items():
            assert row[name] == value.number_value
    # 06 names each trial after its run's time too: no two runs share a trial id, so no line on merged rows.
    assert table.trial_id.is_unique and "averages the rows" not in stdout
    # The dashboard takes the first experiment declaration it finds: served one run of 06 at a time, it shows its own.
    for experiment_dir in experiment_dirs:
        trials = sum(1 for path in experiment_dir.iterdir() if path.is_dir())
        rows = table[table.index.str.startswith(experiment_dir.relative_to(lesson_logdir).as_posix() + "/")]
        assert_same_table(rows.set_index(rows.trial_id.astype(str)), *dashboard_table(experiment_dir, trials))


def session_start(trial_dir):
    """The trial's session-start summary (hp.hparams), read event by event."""
    for path in sorted(trial_dir.glob("*tfevents*")):
        for event in event_file_loader.LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == hparams_metadata.SESSION_START_INFO_TAG:
                    content = value.metadata.plugin_data.content
                    return hparams_metadata.parse_session_start_info_plugin_data(content)
    raise AssertionError(f"no session start in {trial_dir}")


def test_a_series_longer_than_the_servers_default_sample_is_exported_whole(tmp_path):
    # The data server keeps 1,000 points of a series unless asked for all: 1,500 points, every one in scalars.csv.
    logdir = tmp_path / "logs"
    steps = np.arange(1_500)
    values = np.float32(np.sin(steps / 50.0) + steps / 1_000)  # logged as float32
    write_events(logdir / "run", *(scalar_event("loss", step, float(v)) for step, v in enumerate(values)))
    export.main(["--logdir", str(logdir), "--out", str(tmp_path / "out")])
    exported_points = read_scalars_csv(tmp_path / "out" / "scalars.csv")
    assert [point[2] for point in exported_points] == list(steps)
    assert [point[4] for point in exported_points] == [float(v) for v in values]
    assert_same_points(exported_points, sorted(event_file_points(logdir)))


def test_a_rust_log_of_the_shell_does_not_hide_the_end_of_the_load(tmp_path, monkeypatch):
    # With RUST_LOG=warn the server would not log "Finished load cycle": 16 starts it with RUST_LOG=info.
    monkeypatch.setenv("RUST_LOG", "warn")
    monkeypatch.setattr(export, "LOAD_TIMEOUT_SECONDS", 60)  # a failure in a minute, not ten
    logdir = tmp_path / "logs"
    write_events(logdir / "run", scalar_event("epoch_loss", 0, 1.0), scalar_event("epoch_loss", 1, 0.5))
    output = run_export_in_process(["--logdir", str(logdir), "--out", str(tmp_path / "out")])
    assert output.startswith("Read 1 run under ")
    assert_same_points(read_scalars_csv(tmp_path / "out" / "scalars.csv"), sorted(event_file_points(logdir)))


def test_two_exports_of_the_same_logs_write_the_same_csv(lesson_logdir, exported, tmp_path):
    out, _ = exported
    run_export_in_process(["--logdir", str(lesson_logdir), "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "scalars.csv").read_bytes() == (out / "scalars.csv").read_bytes()


def test_the_figure_is_a_png_with_a_panel_per_lesson(exported):
    out, stdout = exported
    assert sorted(path.name for path in out.iterdir()) == ["hparams.csv", "scalars.csv", "scalars.png"]
    assert f"{out / 'scalars.png'}: a panel per directory, TensorBoard's smoothing 0.6" in stdout
    assert "  02_scalars_custom_loop: loss of " in stdout and "  06_hparams: " in stdout
    height, width, _ = matplotlib.image.imread(out / "scalars.png").shape
    assert width > 1000 and height > 400


def test_many_runs_give_a_bounded_legend_summary_and_the_command_for_the_rest(lesson_logdir, tmp_path, monkeypatch):
    # Six copies of 02's run (36 runs of one lesson) and 06's: over 40 runs, as after a few weeks of lessons.
    logdir = tmp_path / "logs"
    (run_02,) = (lesson_logdir / "02_scalars_custom_loop").iterdir()
    for copy in range(6):
        shutil.copytree(run_02, logdir / "02_scalars_custom_loop" / f"2026010{copy}-000000")
    shutil.copytree(lesson_logdir / "06_hparams", logdir / "06_hparams")
    figures = []
    monkeypatch.setattr(export.plt, "close", figures.append)
    result = run_export_in_process(["--logdir", str(logdir), "--out", str(tmp_path / "out")])
    (figure,) = figures
    panels = [axes for axes in figure.axes if axes.get_visible()]
    assert len(panels) == 2
    for axes in panels:
        assert 0 < len(axes.get_legend().get_texts()) <= export.MAX_CURVES
        # The legend lies inside the panel: both its corners.
        legend = axes.get_legend().get_window_extent()
        assert axes.get_window_extent().contains(*legend.p0) and axes.get_window_extent().contains(*legend.p1)
    assert re.search(r"the last 10 of \d\d runs", panels[0].get_title()), panels[0].get_title()
    assert "smoothed as in TensorBoard (0.6)" in figure._suptitle.get_text()
    assert "outlier" not in figure._suptitle.get_text()
    command = f"python 16_export.py --logdir {logdir / '02_scalars_custom_loop'} --tag loss"
    assert f"the last 10 drawn; all of them, a panel per directory:  {command}\n" in result
    assert len(result.splitlines()) <= 15
    assert 'click "Toggle all runs"' in result.splitlines()[-1]


def test_beyond_twelve_directories_the_last_twelve_are_drawn_and_the_others_reached(tmp_path, monkeypatch):
    logdir = tmp_path / "logs"
    for number in range(14):
        write_events(logdir / f"d{number:02d}" / "run", scalar_event("epoch_loss", 0, 1.0 + number))
    write_events(logdir / "zz" / "run", scalar_event("accuracy", 0, 0.5))
    figures = []
    monkeypatch.setattr(export.plt, "close", figures.append)
    result = run_export_in_process(["--logdir", str(logdir), "--out", str(tmp_path / "out"), "--tag", "epoch_loss"])
    (figure,) = figures
    titles = [axes.get_title() for axes in figure.axes if axes.get_visible()]
    assert [title.split(":")[0] for title in titles] == [f"d{number:02d}" for number in range(2, 14)]
    command = f"python 16_export.py --logdir {logdir / 'd00'}"
    assert f"  the last 12 of 14 directories; the others, one at a time:  {command}\n" in result
    assert "  d13: epoch_loss of 1 run; the last value of d13/run: 14\n" in result
    assert "  No epoch_loss in zz: no panel for them.\n" in result


def run_export_in_process(argv):
    """16's main in this process; returns what it printed (stderr must stay empty)."""
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        export.main(argv)
    assert stderr.getvalue() == ""
    return stdout.getvalue()


def test_without_a_data_server_the_pure_python_reader_gives_the_same_points(lesson_logdir, tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_DATA_SERVER_BINARY", str(tmp_path / "no-server-here"))
    output = run_export_in_process(["--logdir", str(lesson_logdir), "--out", str(tmp_path / "out")])
    assert output.splitlines()[0].startswith("No TensorBoard data server on this platform (")
    assert_same_points(read_scalars_csv(tmp_path / "out" / "scalars.csv"), sorted(event_file_points(lesson_logdir)))
    assert len(pd.read_csv(tmp_path / "out" / "hparams.csv")) == len(list(lesson_logdir.glob("06_hparams/*/*/")))


def test_the_export_never_imports_tensorflow(lesson_logdir, tmp_path):
    code = (
        "import importlib, sys; export = importlib.import_module('16_export'); "
        f"export.main(['--logdir', {str(lesson_logdir)!r}, '--out', {str(tmp_path / 'out')!r}]); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_smoothing_is_tensorboards_debiased_moving_average():
    # Worked by hand with weight 0.5: last = 0.5, 1.75, 1.875, (NaN skipped), 2.9375, divided by 1 - 0.5**n.
    smoothed = utils.tensorboard_smoothing([1.0, 3.0, 2.0, math.nan, 4.0], 0.5)
    np.testing.assert_allclose(smoothed, [1.0, 7 / 3, 15 / 7, math.nan, 47 / 15], rtol=1e-12)
    # The Scalars tab's default weight: 0 / 0.4 = 0, then 0.4 / (1 - 0.36).
    np.testing.assert_allclose(utils.tensorboard_smoothing([0.0, 1.0], 0.6), [0.0, 0.625], rtol=1e-12)
    # A constant series is drawn as it is, and weight 0 gives the raw values.
    assert list(utils.tensorboard_smoothing([2.0, 2.0, 2.0], 0.6)) == [2.0, 2.0, 2.0]
    assert list(utils.tensorboard_smoothing([3.0, 1.0, 2.0], 0.0)) == [3.0, 1.0, 2.0]


def write_events(run_dir, *events):
    """Writes `events` into a new event file of `run_dir` with TensorBoard's own writer."""
    writer = EventFileWriter(str(run_dir))
    for event in events:
        writer.add_event(event)
    writer.close()


def scalar_event(tag, step, value, plugin=True):
    """A scalar event: TF2's kind (a tensor with the scalars plugin's metadata), or TF1's simple value."""
    if not plugin:
        return event_pb2.Event(
            step=step,
            wall_time=1.0 + step,
            summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]),
        )
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    summary_value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(value))
    return event_pb2.Event(step=step, wall_time=1.0 + step, summary=summary_pb2.Summary(value=[summary_value]))


def test_old_style_scalars_and_undeclared_sessions_are_read_as_the_dashboard_reads_them(tmp_path, capsys):
    from tensorboard.plugins.hparams import summary_v2 as hparams_summary

    logdir = tmp_path / "logs"
    # Two sessions of one trial id (one row each here, one averaged row in the dashboard) and one of another; no
    # hp.hparams_config (as KerasTuner).
    for run, trial_id, accuracy in (("a", "same", 0.5), ("b", "same", 0.75), ("c", "other", 0.25)):
        start = hparams_summary.hparams_pb({"units": 8, "optimizer": "adam"}, trial_id=trial_id)
        write_events(
            logdir / run,
            event_pb2.Event(summary=start),
            scalar_event("accuracy", 0, 0.0),
            scalar_event("accuracy", 1, accuracy),
            scalar_event("loss", 1, 1.0 - accuracy, plugin=False),
        )
        write_events(logdir / run / "validation", scalar_event("loss", 1, accuracy / 2))
    export.main(["--logdir", str(logdir), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "averages the rows of each of these trial ids into one: 'same'\n" in captured.out
    assert_same_points(read_scalars_csv(tmp_path / "out" / "scalars.csv"), sorted(event_file_points(logdir)))
    table = pd.read_csv(tmp_path / "out" / "hparams.csv")
    assert list(table.columns) == ["run", "trial_id", "optimizer", "units", "accuracy", "loss", "validation/loss"]
    assert list(table.run) == ["a", "b", "c"] and list(table.trial_id) == ["same", "same", "other"]
    assert list(table.accuracy) == [0.5, 0.75, 0.25] and list(table["validation/loss"]) == [0.25, 0.375, 0.125]
    assert table.units.dtype == np.int64
    # The dashboard's rows are the means of the sessions of one trial id.
    means = table.groupby("trial_id")[["accuracy", "loss", "validation/loss"]].mean()
    assert_same_table(means, *dashboard_table(logdir, trials=2))


def test_logs_without_scalars_are_one_line_and_a_failure(tmp_path, capsys):
    text = summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag="note", tensor=tensor_util.make_tensor_proto("hi"))]
    )
    text.value[0].metadata.plugin_data.plugin_name = "text"
    write_events(tmp_path / "logs" / "run", event_pb2.Event(step=0, summary=text))
    with pytest.raises(SystemExit) as stopped:
        export.main(["--logdir", str(tmp_path / "logs"), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    # One line in all, no "Read 1 run ...: 0 scalar points" before it.
    assert stopped.value.code == 1 and captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: no scalars under --logdir")
    assert not (tmp_path / "out").exists()


def one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        export.main(argv)
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_missing_or_empty_logdir_is_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "no TensorBoard runs under --logdir" in one_line_error(capsys, ["--logdir", str(tmp_path / "nowhere")])
    (tmp_path / "empty" / "run").mkdir(parents=True)
    (tmp_path / "empty" / "run" / "notes.txt").write_text("no events here")
    assert "no TensorBoard runs" in one_line_error(capsys, ["--logdir", str(tmp_path / "empty")])
    assert not (tmp_path / "exports").exists()


def test_a_missing_logdir_on_the_command_line_is_one_line(tmp_path):
    result = run_python(SCRIPT, "--logdir", str(tmp_path / "nowhere"), timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no TensorBoard runs under --logdir")


def test_an_unknown_tag_or_a_used_out_is_one_line_and_nothing_is_written_over(lesson_logdir, tmp_path, capsys):
    line = one_line_error(capsys, ["--logdir", str(lesson_logdir), "--tag", "nope", "--out", str(tmp_path / "new")])
    assert "no scalar tag 'nope'" in line and "batch_loss" in line
    assert not (tmp_path / "new").exists()
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "scalars.csv").write_text("an earlier export")
    assert "already holds files" in one_line_error(capsys, ["--logdir", str(lesson_logdir), "--out", str(earlier)])
    assert [path.name for path in earlier.iterdir()] == ["scalars.csv"]
    assert (earlier / "scalars.csv").read_text() == "an earlier export"


def test_each_export_goes_to_a_new_directory(tmp_path, capsys, monkeypatch):
    logdir = tmp_path / "logs"
    write_events(logdir / "run", scalar_event("epoch_loss", 0, 1.0), scalar_event("epoch_loss", 1, 0.5))
    monkeypatch.chdir(tmp_path)
    export.main(["--logdir", "logs"])
    export.main(["--logdir", "logs", "--smoothing", "0"])
    first, second = sorted((tmp_path / "exports").iterdir())
    assert first != second
    for export_dir in (first, second):
        assert sorted(path.name for path in export_dir.iterdir()) == ["scalars.csv", "scalars.png"]
    assert "Read 1 run under logs: 2 scalar points of 1 tag." in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_event_file_is_one_line_naming_its_run_and_the_others_are_exported(
    lesson_logdir, tmp_path, capsys, damage
):
    logdir = tmp_path / "logs"
    (good,) = (lesson_logdir / "02_scalars_custom_loop").iterdir()
    shutil.copytree(good, logdir / "good")
    (event_file,) = (good / "lr_0.001" / "train").glob("*tfevents*")
    data = bytearray(event_file.read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2] ^= 0xFF
    (logdir / "damaged").mkdir()
    (logdir / "damaged" / event_file.name).write_bytes(bytes(data))
    export.main(["--logdir", str(logdir), "--out", str(tmp_path / "out")])
    if damage == "corrupt":
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("warning: ") and f"damaged/{event_file.name} is corrupt" in line
    else:  # TensorBoard reads a file that ends in a partial record as one still being written: no warning
        assert capsys.readouterr().err == ""
    exported_points = read_scalars_csv(tmp_path / "out" / "scalars.csv")
    good_points = sorted(point for point in event_file_points(logdir) if point[0].startswith("good/"))
    assert_same_points([point for point in exported_points if point[0].startswith("good/")], good_points)
    # The damaged run: the points before the damage, each equal to the original file's.
    damaged_points = [point[1:] for point in exported_points if point[0] == "damaged"]
    original = [point[1:] for point in good_points if point[0] == "good/lr_0.001/train"]
    assert 0 < len(damaged_points) < len(original)
    assert sorted(damaged_points) == sorted(original)[: len(damaged_points)]


@pytest.mark.parametrize("bad_flag", [["--smoothing", "1"], ["--smoothing", "-0.1"], ["--smoothing", "nan"]])
def test_bad_flag_values_are_an_argparse_error(bad_flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        export.main(bad_flag)
    assert stopped.value.code == 2
    assert "error: argument --smoothing" in capsys.readouterr().err.strip().splitlines()[-1]


def test_only_the_flags_that_do_something_are_taken(capsys):
    args = export.make_parser().parse_args(["--logdir", "elsewhere"])
    assert (args.logdir, args.smoothing, args.tag, args.out) == ("elsewhere", 0.6, None, None)
    for flag in ("--quick", "--epochs"):  # 16 trains nothing
        with pytest.raises(SystemExit) as stopped:
            export.make_parser().parse_args([flag])
        assert stopped.value.code == 2
