"""16_export.py: every logged point in scalars.csv, the HParams table as the dashboard builds it, TensorBoard's
smoothing, and one line for a bad logdir or a damaged event file.

The logs are real runs of 02 and 06 (default and --fit), copied into a logdir of their own; each exported value
is checked against the event files read here with TensorBoard's lower-level reader, and the HParams table against
the real server's HParams API.
"""

import importlib
import math
import shutil
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

from support.scripts import assert_quiet, run_python

export = importlib.import_module("16_export")

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
    assert "a row per step and a column per run" in stdout


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
                    export.metric_name(metric["name"].get("group", ""), metric["name"]["tag"]): metric["value"]
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
    columns = [export.metric_name(m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]]
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


def test_hparams_csv_is_the_dashboards_table_one_row_per_trial(lesson_logdir, exported):
    out, _ = exported
    table = pd.read_csv(out / "hparams.csv", float_precision="round_trip").set_index("trial_id")
    assert {"units", "dropout", "learning_rate"} <= set(table.columns)
    experiment_dirs = sorted((lesson_logdir / "06_hparams").iterdir())
    trial_dirs = [path for experiment_dir in experiment_dirs for path in experiment_dir.iterdir() if path.is_dir()]
    assert len(table) == len(trial_dirs) == table.index.nunique()
    for trial_dir in trial_dirs:
        start = session_start(trial_dir)
        row = table.loc[start.group_name]
        for name, value in start.hparams.items():
            assert row[name] == value.number_value
        assert row["run"] == trial_dir.relative_to(lesson_logdir).as_posix()
    # The dashboard takes the first experiment declaration it finds: served one run of 06 at a time, it shows its own.
    for experiment_dir in experiment_dirs:
        trials = sum(1 for path in experiment_dir.iterdir() if path.is_dir())
        assert_same_table(table, *dashboard_table(experiment_dir, trials))


def session_start(trial_dir):
    """The trial's session-start summary (hp.hparams), read event by event."""
    for path in sorted(trial_dir.glob("*tfevents*")):
        for event in event_file_loader.LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.tag == hparams_metadata.SESSION_START_INFO_TAG:
                    content = value.metadata.plugin_data.content
                    return hparams_metadata.parse_session_start_info_plugin_data(content)
    raise AssertionError(f"no session start in {trial_dir}")


def test_the_figure_is_a_png_of_the_default_tag(exported):
    out, stdout = exported
    (figure,) = out.glob("*.png")
    assert f"{figure}: {figure.stem} across runs, TensorBoard's smoothing 0.6" in stdout
    assert figure.stem.endswith("loss") and not figure.stem.startswith("batch")
    height, width, _ = matplotlib.image.imread(figure).shape
    assert width > 1000 and height > 600


def test_smoothing_is_tensorboards_debiased_moving_average():
    # Worked by hand with weight 0.5: last = 0.5, 1.75, 1.875, (NaN skipped), 2.9375, divided by 1 - 0.5**n.
    smoothed = export.tensorboard_smoothing([1.0, 3.0, 2.0, math.nan, 4.0], 0.5)
    np.testing.assert_allclose(smoothed, [1.0, 7 / 3, 15 / 7, math.nan, 47 / 15], rtol=1e-12)
    # The Scalars tab's default weight: 0 / 0.4 = 0, then 0.4 / (1 - 0.36).
    np.testing.assert_allclose(export.tensorboard_smoothing([0.0, 1.0], 0.6), [0.0, 0.625], rtol=1e-12)
    # A constant series is drawn as it is, and weight 0 gives the raw values.
    assert list(export.tensorboard_smoothing([2.0, 2.0, 2.0], 0.6)) == [2.0, 2.0, 2.0]
    assert list(export.tensorboard_smoothing([3.0, 1.0, 2.0], 0.0)) == [3.0, 1.0, 2.0]


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
    # Two sessions of one trial id (one row, averaged) and one of another; no hp.hparams_config (as KerasTuner).
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
    assert capsys.readouterr().err == ""
    assert_same_points(read_scalars_csv(tmp_path / "out" / "scalars.csv"), sorted(event_file_points(logdir)))
    table = pd.read_csv(tmp_path / "out" / "hparams.csv").set_index("trial_id")
    assert list(table.columns[:2]) in (["units", "optimizer"], ["optimizer", "units"])
    assert list(table.columns[2:]) == ["accuracy", "loss", "validation/loss", "run"]
    assert table.loc["same", "accuracy"] == pytest.approx(0.625) and table.loc["other", "accuracy"] == 0.25
    assert table.loc["same", "validation/loss"] == pytest.approx(0.3125) and table.loc["same", "run"] == "a b"
    assert table.loc["other", "loss"] == pytest.approx(0.75)
    assert_same_table(table, *dashboard_table(logdir, trials=2))


def one_line_error(capsys, argv):
    with pytest.raises(SystemExit) as stopped:
        export.main(argv)
    assert stopped.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_a_missing_or_empty_logdir_is_one_line_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "is not a directory" in one_line_error(capsys, ["--logdir", str(tmp_path / "nowhere")])
    (tmp_path / "empty" / "run").mkdir(parents=True)
    (tmp_path / "empty" / "run" / "notes.txt").write_text("no events here")
    assert "no TensorBoard runs" in one_line_error(capsys, ["--logdir", str(tmp_path / "empty")])
    assert not (tmp_path / "exports").exists()


def test_a_missing_logdir_on_the_command_line_is_one_line(tmp_path):
    result = run_python(SCRIPT, "--logdir", str(tmp_path / "nowhere"), timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --logdir")


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
        assert sorted(path.name for path in export_dir.iterdir()) == ["epoch_loss.png", "scalars.csv"]
    assert "No HParams sessions" in capsys.readouterr().out


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
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("warning: run damaged: ") and event_file.name in line
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
        export.make_parser().parse_args(bad_flag)
    assert stopped.value.code == 2
    assert "error: argument --smoothing" in capsys.readouterr().err.strip().splitlines()[-1]


def test_the_shared_flags_that_mean_something_here_are_taken():
    args = export.make_parser().parse_args(["--quick", "--logdir", "elsewhere"])
    assert (args.quick, args.logdir, args.smoothing, args.tag, args.out) == (True, "elsewhere", 0.6, None, None)
