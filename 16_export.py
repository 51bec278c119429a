"""
Title: Getting the data out: every logged point as CSV and pandas, the HParams table, a figure for a report
Description: TensorBoard's own readers turn a logdir into pandas tables, CSV files and a figure smoothed as the tab is.

TensorBoard tabs: none; it reads back what the Scalars and HParams tabs show (run 02 and 06 first).
Run it:   python 16_export.py     (--logdir logs --out DIR; --tag batch_loss; --smoothing 0 for raw values)
View it:  tensorboard --logdir logs     (the same runs in the Scalars and HParams tabs, to compare)
Output:   a new exports/<date-time>/ (the script prints it): scalars.csv, hparams.csv and <tag>.png
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import argparse
import datetime
import math
import posixpath
import re
import shlex
import sys
from pathlib import Path

import matplotlib

# Agg draws into files only: the figure is saved, never shown, so no display is needed (a server, CI, a kernel).
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator, event_file_loader  # noqa: E402
from tensorboard.plugins.hparams import metadata as hparams_metadata  # noqa: E402
from tensorboard.plugins.scalar import metadata as scalar_metadata  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

import plumbing  # noqa: E402

# The Scalars tab's default smoothing (its slider in the settings pane).
DEFAULT_SMOOTHING = 0.6
# Size guidance 0 keeps every event. By default EventAccumulator keeps a random sample of 10 tensors per tag, and the
# server keeps 1,000 points per scalar series: what the Scalars tab draws, and all that its CSV/JSON download links
# hold, unless TensorBoard is started with --samples_per_plugin scalars=N. A per-batch curve comes out thinned.
KEEP_EVERY_EVENT = {event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0}
# Every record of an event file (a TFRecord) is its data framed by 16 bytes: its length (8) and two checksums (4+4).
RECORD_FRAMING_BYTES = 16
SCALAR_COLUMNS = ["run", "tag", "step", "wall_time", "value"]


def smoothing_weight(text):
    """argparse type for --smoothing: from 0 (the raw values) to below 1, as the Scalars tab's slider allows."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def make_parser():
    """--logdir and --quick as every lesson has them (the other shared flags train models), and the export's own."""
    parser = argparse.ArgumentParser(description="Export every run under --logdir: scalars.csv, hparams.csv, a figure.")
    parser.add_argument("--logdir", default="logs", help="the logs to read, every run under it (default: logs)")
    parser.add_argument("--out", help="a new or empty directory for the files (default: a new exports/<date-time>/)")
    parser.add_argument("--tag", help="the scalar tag to draw across runs (default: the first epoch loss found)")
    parser.add_argument(
        "--smoothing",
        type=smoothing_weight,
        default=DEFAULT_SMOOTHING,
        help=f"TensorBoard's smoothing of the figure's curves, 0 for the raw values (default: {DEFAULT_SMOOTHING})",
    )
    parser.add_argument("--quick", action="store_true", help="accepted, as by every lesson: the export is quick")
    return parser


# ## Where the export goes
#
# Like the lessons' logs, an export never writes over an earlier one: by default each run of this script makes a
# new `exports/<date-time>/`, and an `--out` directory that already holds files is refused before anything is read.


def check_out(out):
    """Ends with a one-line error when --out names a file or a directory that already holds files."""
    if out is not None and Path(out).exists() and (not Path(out).is_dir() or any(Path(out).iterdir())):
        plumbing.fail(
            f"--out {out!r} already holds files (or is one): give a new or empty directory; nothing was written"
        )


def make_export_dir(out):
    """Creates and returns the directory to write into: --out, or a new exports/<date-time>[-N]/."""
    try:
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            return Path(out)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for attempt in range(1, 1000):
            export_dir = Path("exports") / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            try:
                export_dir.mkdir(parents=True)
                return export_dir
            except FileExistsError:
                continue
    except OSError as error:
        plumbing.fail(f"cannot write the export to {out or 'exports/'}: {error.strerror or error}")
    plumbing.fail("could not find a new directory name under exports/")


# ## Finding the runs, and the files TensorBoard cannot read to the end
#
# A run, for TensorBoard, is a directory that holds an event file (`events.out.tfevents.*`); its name is its path
# under `--logdir`, which is what the `run` column holds (`02_scalars_custom_loop/<time>/train`).
#
# A process killed while writing leaves a truncated event file, and a damaged disk a corrupt one. TensorBoard reads
# such a file up to its first bad record and says nothing (a file still being written ends in a partial record
# too). Its own record reader tells how far it got: the bytes it read, each record with its 16 framing bytes, fall
# short of the file's size. Such a run gets one warning line and is exported as far as TensorBoard reads it.


def find_runs(logdir):
    """{run name: directory} of every run under `logdir`, sorted; a one-line error when there is none."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        plumbing.fail(
            f"--logdir {str(logdir)!r} is not a directory: give the directory your logs are in, "
            "or run a lesson first (python 02_scalars_custom_loop.py writes logs/)"
        )
    run_dirs = sorted({path.parent for path in logdir.rglob("*tfevents*") if path.is_file()})
    if not run_dirs:
        plumbing.fail(
            f"no TensorBoard runs under --logdir {str(logdir)!r} (no events.out.tfevents.* file in it or below): "
            "run a lesson first, or give the directory your logs are in"
        )
    return {run_dir.relative_to(logdir).as_posix(): run_dir for run_dir in run_dirs}


def damaged_event_files(run_dir):
    """The names of the run's event files that TensorBoard cannot read to the end, each with how far it gets."""
    damaged = []
    for path in sorted(path for path in run_dir.glob("*tfevents*") if path.is_file()):
        records = list(event_file_loader.RawEventFileLoader(str(path)).Load())
        read_bytes = sum(len(record) + RECORD_FRAMING_BYTES for record in records)
        if read_bytes != path.stat().st_size:
            damaged.append(f"{path.name} (truncated or corrupt after {len(records)} records)")
    return damaged


# ## Every scalar point, with TensorBoard's own reader
#
# `EventAccumulator` is the reader behind TensorBoard's server. Two traps: by default it keeps a sample of each tag
# (size guidance 0 keeps every event, as `KEEP_EVERY_EVENT` above says), and its `Scalars()` returns nothing for
# TensorFlow 2's logs. TF2's `tf.summary.scalar`, and Keras' TensorBoard callback, write each point as a *tensor*
# event tagged with the scalars plugin's metadata (tensorflow/tensorboard#5395): `Tensors()` returns those, and the
# plugin name tells a scalar from an image or a histogram. Logs written by TF1's `tf.compat.v1.summary.scalar`
# hold "simple values", which `Scalars()` does return; a run may hold both, so both are read. (The Scalars tab's
# CSV/JSON download links are the other way out, one series at a time, and hold at most 1,000 points of each.)


def read_run(run_name, run_dir):
    """Reads one run: its loaded EventAccumulator, and every scalar point as [(run, tag, step, wall_time, value)]."""
    accumulator = event_accumulator.EventAccumulator(str(run_dir), size_guidance=KEEP_EVERY_EVENT)
    accumulator.Reload()
    points = []
    for tag in accumulator.Tags()[event_accumulator.TENSORS]:
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name == scalar_metadata.PLUGIN_NAME:
            for event in accumulator.Tensors(tag):
                value = float(tensor_util.make_ndarray(event.tensor_proto))
                points.append((run_name, tag, event.step, event.wall_time, value))
    for tag in accumulator.Tags()[event_accumulator.SCALARS]:
        points += [(run_name, tag, event.step, event.wall_time, event.value) for event in accumulator.Scalars(tag)]
    return accumulator, points


def read_logdir(runs):
    """Every run: (a DataFrame of every scalar point, in the order written per run and tag, {run: accumulator})."""
    accumulators, points = {}, []
    for run_name, run_dir in runs.items():
        damaged = damaged_event_files(run_dir)
        if damaged:
            print(
                f"warning: run {run_name}: {', '.join(damaged)}; exported what TensorBoard reads of it",
                file=sys.stderr,
            )
        accumulators[run_name], run_points = read_run(run_name, run_dir)
        points += run_points
    return pd.DataFrame(points, columns=SCALAR_COLUMNS), accumulators


# ## The table a learner wants
#
# One row per point is the tidy form that pandas, a spreadsheet or a plotting library all take. The table most
# people want to look at is one tag with a row per step and a column per run; it is one line of pandas away:
# `scalars[scalars.tag == tag].pivot_table(index="step", columns="run", values="value", aggfunc="last")`
# (`aggfunc="last"` keeps the later value when one step of a run was logged twice, by a rerun into the same run).


def per_run_table(scalars, tag):
    """One tag as a table: a row per step, a column per run."""
    return scalars[scalars.tag == tag].pivot_table(index="step", columns="run", values="value", aggfunc="last")


def short_run_names(runs):
    """The runs' names without the directories they all share: (that shared part, {run: short name})."""
    runs = list(runs)
    shared = posixpath.commonpath(runs) if len(runs) > 1 else posixpath.dirname(runs[0])
    shared = "" if shared == "." else shared
    return shared, {run: posixpath.relpath(run, shared) if shared else run for run in runs}


# ## The HParams table, as the dashboard builds it
#
# The HParams dashboard reads two summaries of the hparams plugin. A *session* (one trial) is a run holding a
# session-start summary (`hp.hparams`, or `hp.KerasCallback`): its hyperparameter values and its trial id, the
# row's name. The *experiment* summary (`hp.hparams_config`, written once in a run above the sessions) declares the
# metric columns, each a (group, tag): its value is the LAST point logged under `tag` in the run `<session>/<group>`
# (the session's own run when the group is empty; `validation` for Keras' callback). Sessions that share a trial id
# are one row, their metrics averaged. Without a declaration (KerasTuner writes none) every scalar tag of the
# session's run and its subdirectories is a column. Here each session takes the declaration nearest above it; the
# dashboard takes the first one it finds in its logdir, so served one experiment at a time it shows this table.


def hparams_content(accumulators, run):
    """{tag: content} of the hparams plugin's summaries in a run ({} for a run that has none)."""
    try:
        return accumulators[run].PluginTagToContent(hparams_metadata.PLUGIN_NAME) if run in accumulators else {}
    except KeyError:
        return {}


def declaration(accumulators, session):
    """The experiment summary (hp.hparams_config) nearest at or above a session's run, or None."""
    run = session
    while True:
        content = hparams_content(accumulators, run)
        if hparams_metadata.EXPERIMENT_TAG in content:
            return hparams_metadata.parse_experiment_plugin_data(content[hparams_metadata.EXPERIMENT_TAG])
        if run == ".":
            return None
        run = posixpath.dirname(run) or "."


def metric_columns(experiment, scalars, session):
    """A session's (group, tag) metric columns: those declared, else every scalar tag in its run and below it."""
    if experiment is not None:
        return [(metric.name.group, metric.name.tag) for metric in experiment.metric_infos]
    below = scalars[(scalars.run == session) | scalars.run.str.startswith(f"{session}/")]
    pairs = below[["run", "tag"]].drop_duplicates().itertuples(index=False)
    return sorted({("" if run == session else posixpath.relpath(run, session), tag) for run, tag in pairs})


def metric_name(group, tag):
    """A metric's column name: its tag, after its group's run when it has one (`validation/epoch_loss`)."""
    return f"{group}/{tag}" if group else tag


def hparam_value(value):
    """A hyperparameter's value (a protobuf Value) as Python's number, string or bool."""
    kind = value.WhichOneof("kind")
    return getattr(value, kind) if kind in ("number_value", "string_value", "bool_value") else None


def session_rows(accumulators, scalars):
    """One dict per session: its trial id, hyperparameters, metrics (group/tag) and run; and the metric names."""
    last_values = scalars.drop_duplicates(["run", "tag"], keep="last").set_index(["run", "tag"])["value"]
    rows, metric_names = [], {}
    for run in accumulators:
        content = hparams_content(accumulators, run)
        if hparams_metadata.SESSION_START_INFO_TAG not in content:
            continue
        start = hparams_metadata.parse_session_start_info_plugin_data(content[hparams_metadata.SESSION_START_INFO_TAG])
        experiment = declaration(accumulators, run)
        # The hyperparameters in the order they were declared, then any others.
        declared = [info.name for info in experiment.hparam_infos if info.name in start.hparams] if experiment else []
        row = {"trial_id": start.group_name or run}
        row.update({name: hparam_value(start.hparams[name]) for name in dict.fromkeys([*declared, *start.hparams])})
        for group, tag in metric_columns(experiment, scalars, run):
            name = metric_name(group, tag)
            metric_names[name] = None
            row[name] = last_values.get((posixpath.normpath(posixpath.join(run, group)), tag), math.nan)
        rows.append({**row, "run": run})
    return rows, list(metric_names)


def hparams_table(accumulators, scalars):
    """The HParams table: one row per trial id, its hyperparameters, its metrics (averaged) and its runs."""
    rows, metric_names = session_rows(accumulators, scalars)
    if not rows:
        return None
    sessions = pd.DataFrame(rows)
    hparam_names = [name for name in sessions.columns if name not in {"trial_id", "run", *metric_names}]
    sessions = sessions[["trial_id", *hparam_names, *metric_names, "run"]]
    aggregations = {name: "mean" if name in metric_names else "first" for name in sessions.columns[1:]}
    aggregations["run"] = " ".join
    return sessions.groupby("trial_id").agg(aggregations).reset_index()


# ## TensorBoard's smoothing
#
# The Scalars tab draws every curve smoothed, 0.6 by default, with the raw values faint behind it. A figure of the
# raw points looks noisier than the tab, and is then taken for a wrong export: the figure below applies the same
# smoothing, computed exactly as TensorBoard's frontend computes it.


def tensorboard_smoothing(values, weight):
    """The Scalars tab's smoothing of one series: a debiased exponential moving average.

    As TensorBoard's frontend computes it (`classicSmoothing` in tensorboard/webapp/widgets/line_chart_v2/
    data_transformer.ts), with n the number of finite values so far:
        last_0 = 0,   last_n = weight * last_(n-1) + (1 - weight) * value_n,   smoothed_n = last_n / (1 - weight**n)
    Dividing by 1 - weight**n removes the pull towards the 0 the average starts from: smoothed_1 is value_1.
    A non-finite value (NaN, inf) is kept as it is and not counted; a constant series is returned as it is;
    weight 0 gives the raw values. Returns a NumPy array as long as `values`.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or np.all(values == values[0]):
        return values.copy()
    smoothed, last, count = np.empty_like(values), 0.0, 0
    for index, value in enumerate(values):
        if not math.isfinite(value):
            smoothed[index] = value
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        smoothed[index] = last / (1.0 if weight == 1 else 1 - weight**count)
    return smoothed


# ## A figure for a report
#
# One tag across runs, as the Scalars tab draws it: each run's smoothed curve over its raw values, drawn faint, on
# a step axis, and a y axis that leaves out the outliers (the tab's "Ignore outliers in chart scaling", on by
# default). The title says what is drawn and how, so the figure can go into a report as it is. By default the tag
# is the first epoch loss the logs hold (`epoch_loss` from Keras' callback, 02's `loss`).


def chosen_tag(scalars, tag):
    """--tag, checked against the logs; by default the first tag ending in "loss" that is not logged per batch."""
    tags = list(dict.fromkeys(scalars.tag))
    if tag is not None and tag not in tags:
        shown = ", ".join(tags[:15]) + (", ..." if len(tags) > 15 else "")
        plumbing.fail(f"no scalar tag {tag!r} under --logdir; its tags: {shown or 'none'}")
    default = next((name for name in tags if name.endswith("loss") and not name.startswith("batch")), None)
    return tag or default


def y_range_without_outliers(values):
    """A y range without the outliers, in the spirit of the Scalars tab's "Ignore outliers in chart scaling" (on by
    default): the values that lie outside their 5th-95th percentile range by no more than its width, plus a 5%
    margin. (The tab cuts at the percentiles themselves, which also cuts off the ends of a short curve.) None, so
    everything is drawn, for two values or fewer."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) <= 2:
        return None
    low, high = np.percentile(values, [5, 95])
    kept = values[(low - (high - low) <= values) & (values <= high + (high - low))]
    margin = 0.05 * (kept.max() - kept.min()) or 0.05 * abs(kept.max()) or 0.05
    return kept.min() - margin, kept.max() + margin


def draw_tag(scalars, tag, smoothing, path):
    """Saves a PNG of `tag` across runs, smoothed as the Scalars tab smooths it, raw values faint behind."""
    series = scalars[scalars.tag == tag]
    shared, names = short_run_names(sorted(series.run.unique()))
    figure, axes = plt.subplots(figsize=(9, 5.5))
    colors = plt.get_cmap("tab10" if len(names) <= 10 else "tab20").colors
    drawn = []
    for index, (run, name) in enumerate(names.items()):
        points = series[series.run == run]
        color, marker = colors[index % len(colors)], "o" if len(points) == 1 else None
        if smoothing:
            axes.plot(points.step, points.value, color=color, alpha=0.25, linewidth=1, marker=marker)
            drawn.append(points.value.to_numpy())
        drawn.append(tensorboard_smoothing(points.value, smoothing))
        axes.plot(points.step, drawn[-1], color=color, label=name, marker=marker)
    # Like the tab, the y axis leaves out the outliers (a diverging run's first steps, say).
    axes.set_ylim(y_range_without_outliers(np.concatenate(drawn)))
    how = f"smoothed as in TensorBoard ({smoothing:g}), raw values faint" if smoothing else "raw values"
    axes.set_title(f"{tag} across {len(names)} runs\n{how}; the y axis leaves out outliers")
    axes.set(xlabel="step", ylabel=tag)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    legend_title = f"run (in {shared}/)" if shared else "run"
    axes.legend(title=legend_title, fontsize="small", ncol=1 + len(names) // 12, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)


# ## Writing the export
#
# The tables go out with pandas' `to_csv`, a file per table; the per-run table of the chosen tag is printed, to see
# at a glance that the numbers are the ones the Scalars tab shows when hovering a point (with smoothing at 0).


def write_export(export_dir, scalars, hparams, tag, smoothing):
    """Writes scalars.csv, hparams.csv (when the logs hold HParams sessions) and the figure; prints what it wrote."""
    scalars.to_csv(export_dir / "scalars.csv", index=False)
    columns = ", ".join(SCALAR_COLUMNS)
    print(f"\n{export_dir / 'scalars.csv'}: {len(scalars):,} points (every one logged), columns {columns}")
    if hparams is not None:
        hparams.to_csv(export_dir / "hparams.csv", index=False)
        print(f"{export_dir / 'hparams.csv'}: {len(hparams)} trials, columns {', '.join(hparams.columns)}")
    else:
        print("No HParams sessions in these logs: no hparams.csv.")
    if tag is None:
        print("No epoch loss in these logs to draw: pass --tag to choose one.")
        return
    figure_path = export_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', tag)}.png"
    draw_tag(scalars, tag, smoothing, figure_path)
    print(f"{figure_path}: {tag} across runs, TensorBoard's smoothing {smoothing:g}")


def print_per_run_table(scalars, tag):
    """Prints the last steps of one tag, a column per run (names shortened to what tells them apart)."""
    table = per_run_table(scalars, tag)
    shared, names = short_run_names(table.columns)
    print(f"\n{tag}, a row per step and a column per run{f' of {shared}/' if shared else ''} (the last steps):")
    print(table.rename(columns=names).tail(5).to_string(float_format="{:.4f}".format, max_cols=8))


# ## Run the lesson


def main(argv=None):
    args = make_parser().parse_args(plumbing.default_argv() if argv is None else list(argv))
    check_out(args.out)
    runs = find_runs(args.logdir)
    scalars, accumulators = read_logdir(runs)
    tag = chosen_tag(scalars, args.tag)
    hparams = hparams_table(accumulators, scalars)
    print(f"Read {len(runs)} runs under {args.logdir}: {len(scalars):,} scalar points of {scalars.tag.nunique()} tags.")
    if tag is not None:
        print_per_run_table(scalars, tag)
    write_export(make_export_dir(args.out), scalars, hparams, tag, args.smoothing)
    print(f"\nCompare with the tabs:  tensorboard --logdir {shlex.quote(str(args.logdir))}     (Scalars, HParams)")


if __name__ == "__main__":
    ctrl_c.run(main)
