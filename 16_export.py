"""
Title: Getting the data out: every logged point as CSV and pandas, the HParams table, a figure for a report
Description: TensorBoard's own data server reads a logdir into pandas; CSV files and a figure smoothed as the tab is.

TensorBoard tabs: none; it reads back what the Scalars and HParams tabs show (run a few lessons first).
Run it:   python 16_export.py     (--logdir DIR --out DIR; --tag batch_loss; --smoothing 0 for raw values)
View it:  tensorboard --logdir logs     (the same runs in the Scalars and HParams tabs, to compare)
Output:   a new exports/<date-time>/ (the script prints it): scalars.csv, hparams.csv and scalars.png
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during the imports stops cleanly (ctrl_c.py); 16 never imports TensorFlow.
import ctrl_c

import argparse
import contextlib
import math
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from tensorboard.context import RequestContext
from tensorboard.data import grpc_provider, server_ingester
from tensorboard.data.proto import data_provider_pb2

import plumbing
import utils

DEFAULT_SMOOTHING = 0.6  # the Scalars tab's default smoothing
LOAD_TIMEOUT_SECONDS = 600  # for the data server's one pass over every event file
MAX_CURVES, MAX_PANELS = 10, 12  # what one panel's legend and one figure hold, to stay readable
MAX_DRAWN = 2_000  # points drawn a curve: a panel is about 600 pixels wide (the Scalars tab draws 1,000)


def make_parser():
    """16 trains nothing: only --logdir of the shared flags, and the export's own."""
    parser = argparse.ArgumentParser(description="Export every run under --logdir: scalars.csv, hparams.csv, a figure.")
    parser.add_argument("--logdir", default="logs", help="the logs to read, every run under it (default: logs)")
    parser.add_argument("--out", help="a new or empty directory for the files (default: a new exports/<date-time>/)")
    parser.add_argument("--tag", help="the scalar tag to draw (default: each panel's epoch loss)")
    parser.add_argument("--smoothing", type=float, default=DEFAULT_SMOOTHING, help="from 0 (raw values) to below 1")
    return parser


# ## How TensorBoard reads a logdir
#
# TensorBoard does not read event files in its Python server: it starts its *data server*, a Rust program installed
# with the `tensorboard` package, which reads every run under `--logdir` and answers the tabs over gRPC. Reading
# through it gives exactly what the tabs show, in seconds. Two traps wait for anyone who reads logs back:
# - **Downsampling.** The data server keeps 1,000 points of each scalar series (what the Scalars tab draws, and all
#   that its CSV download holds) unless told `--samples-per-plugin scalars=all`, as here.
# - **TF2's tensor summaries.** `tf.summary.scalar` and Keras' callback write each point as a tensor tagged with
#   the scalars plugin's metadata, not as TF1's "simple value": `EventAccumulator.Scalars()` returns nothing for
#   them (tensorflow/tensorboard#5395). The data server's scalar API returns both kinds.
#
# With `--reload once` the server reads every file one time, and with `--verbose` it logs "Finished load cycle"
# when that pass is over: the export waits for that line, so nothing is left unread.


@contextlib.contextmanager
def data_server(logdir):
    """Runs TensorBoard's data server on `logdir` until its one load is over; yields (a gRPC stub, its warnings)."""
    binary = server_ingester.get_server_binary().path  # NoDataServerError where none is built for this platform
    with tempfile.TemporaryDirectory() as temp:
        port_file = Path(temp) / "port"
        command = [binary, f"--logdir={logdir}", "--reload=once", "--samples-per-plugin=scalars=all", "--port=0"]
        command += [f"--port-file={port_file}", "--die-after-stdin", "--verbose"]
        environment = {**os.environ, "RUST_LOG": "info"}  # that line is logged whatever RUST_LOG the shell sets
        server = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        lines = queue.Queue()
        threading.Thread(target=lambda: [*map(lines.put, server.stderr), lines.put("")], daemon=True).start()
        try:
            warnings, deadline = [], time.monotonic() + LOAD_TIMEOUT_SECONDS
            while "Finished load cycle" not in (line := lines.get(timeout=max(0, deadline - time.monotonic()))):
                if not line:
                    plumbing.fail(f"TensorBoard's data server stopped (exit status {server.wait()}) reading {logdir}")
                if "Read error in" in line:  # a corrupt record: the server reads that file no further
                    warnings.append(line.split("Read error in ", 1)[1].split(": ")[0])
            every_point = [("grpc.max_receive_message_length", 2**31 - 1)]  # all of them in one answer
            channel = grpc.insecure_channel(f"localhost:{port_file.read_text().strip()}", every_point)
            yield grpc_provider.make_stub(channel), warnings
        except queue.Empty:
            plumbing.fail(f"TensorBoard's data server did not finish reading {logdir} in {LOAD_TIMEOUT_SECONDS} s")
        finally:
            server.kill()
            server.wait()


# Every scalar series comes run by run and tag by tag, as three arrays (steps, wall times, values) that NumPy takes
# whole; `utils.scalar_table` makes one DataFrame of them, in (run, tag) order. The HParams come from the same server.


def read_scalars(stub):
    """Every scalar point the data server holds, as a DataFrame: run, tag, step, wall_time, value."""
    request = data_provider_pb2.ReadScalarsRequest(plugin_filter={"plugin_name": "scalars"})
    request.downsample.num_points = 2**62  # more than any series holds: every point
    series = [(run.run_name, tag.tag_name, tag.data) for run in stub.ReadScalars(request).runs for tag in run.tags]
    return utils.scalar_table(
        [(run, tag, np.array(d.step), np.array(d.wall_time), np.array(d.value)) for run, tag, d in series]
    )


def read_logdir(logdir):
    """Every scalar point under `logdir` and the HParams summaries: through the data server, else the fallback."""
    try:
        with data_server(logdir) as (stub, damaged):
            for path in damaged:
                print(f"warning: {path} is corrupt: read as TensorBoard reads it, up to the damage", file=sys.stderr)
            provider = grpc_provider.GrpcDataProvider("data server", stub)  # the HParams tab's reads: {run: {tag: ...}}
            hparams = provider.list_tensors(RequestContext(), experiment_id="", plugin_name="hparams")
            hparams = {run: {tag: t.plugin_content for tag, t in tags.items()} for run, tags in hparams.items()}
            return read_scalars(stub), hparams
    except server_ingester.NoDataServerError as error:
        # TensorBoard's pure-Python reader, event by event, gives the same points about 10 times slower.
        print(f"No TensorBoard data server on this platform ({error}): reading with the slower EventFileLoader.")
        return utils.read_event_files(logdir)


# ## pandas, the CSV and the HParams table
#
# One row per point is the tidy form that pandas, a spreadsheet or a plotting library all take. The table most
# people look at, one tag with a row per step and a column per run, is one pivot away:
#     scalars[scalars.tag == "loss"].pivot_table(index="step", columns="run", values="value", observed=True)
# The CSV keeps every point of every run, each value in full (`utils.write_csv`: pyarrow's writer when installed).
# `utils.hparams_table` builds the HParams dashboard's table from the same read: a row per session (a trial) with its
# run directory, hyperparameters and each metric's last value. The dashboard averages the sessions that share a trial
# id into one row (KerasTuner numbers every search's trials from 0): the export keeps them apart and names those ids.


def write_hparams(scalars, hparams_content, path):
    """Writes the HParams table to `path` when the logs hold HParams sessions, and says what it holds."""
    hparams = utils.hparams_table(scalars, hparams_content)
    if hparams is None:
        return
    utils.write_csv(hparams, path)
    print(f"{path}: {len(hparams)} HParams sessions, a row each with its run directory")
    shared = list(dict.fromkeys(hparams.trial_id[hparams.trial_id.duplicated()]))
    if shared:
        print(f"  Viewed together, the HParams dashboard averages the rows of each of these trial ids into one: "
              f"{', '.join(map(repr, shared[:5]))}{' ...' if len(shared) > 5 else ''}")  # fmt: skip


# ## A figure for a report
#
# One panel per directory under `--logdir` (a lesson, when it is `logs`: `utils.runs_per_directory`), drawing one tag
# across its runs as the Scalars tab does: smoothed with TensorBoard's formula (`utils.tensorboard_smoothing`), the
# raw values faint behind. To stay readable, a figure holds the last MAX_PANELS directories and a panel the last
# MAX_CURVES runs, by name (the latest, for date-time names); the script prints the command that draws the others.


def draw(scalars, chosen, smoothing, path):
    """Saves a PNG with a panel per (tag, runs) of `chosen`, each run smoothed as the Scalars tab smooths it."""
    columns, rows = min(3, len(chosen)), math.ceil(len(chosen) / 3)
    figure, grid = plt.subplots(rows, columns, figsize=(6 * columns, 4.2 * rows + 0.5), squeeze=False)
    for axes, (panel, (tag, runs)) in zip(grid.flat, chosen.items(), strict=False):
        drawn = []
        for color, run in enumerate(runs[-MAX_CURVES:]):
            points = scalars[(scalars.run == run) & (scalars.tag == tag)]
            smoothed = utils.tensorboard_smoothing(points.value, smoothing)  # over every point
            every, marker = max(1, len(points) // MAX_DRAWN), "o" if len(points) == 1 else None
            steps, values = points.step.to_numpy()[::every], points.value.to_numpy()[::every]
            axes.plot(steps, values, color=f"C{color}", alpha=0.25 if smoothing else 1, marker=marker)
            label = run.removeprefix(panel).strip("/")
            axes.plot(steps, smoothed[::every], color=f"C{color}", label=label, marker=marker)
            drawn += [values, smoothed]
        # As in the tab, a diverging run does not flatten the others: its outliers go off the chart, said in the title.
        limits = utils.y_range_without_outliers(np.concatenate(drawn))
        where = "" if panel == "." else f"{panel}: "
        latest = f"the last {MAX_CURVES} of " if len(runs) > MAX_CURVES else ""
        off = "; outliers off the chart" if limits else ""
        axes.set_title(f"{where}{tag}, {latest}{len(runs)} run{'s' * (len(runs) > 1)}{off}", fontsize="medium")
        axes.set(xlabel="step", ylim=limits)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.grid(alpha=0.3)
        axes.legend(fontsize="x-small")
    for axes in list(grid.flat)[len(chosen) :]:
        axes.set_visible(False)
    figure.suptitle(f"smoothed as in TensorBoard ({smoothing:g}), raw values faint" if smoothing else "raw values")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ## Run the lesson
#
# A new `exports/<date-time>/` each time (as the lessons' runs, nothing is written over), and a summary that stays a
# few lines long whatever `--logdir` holds: the files keep everything.


def draw_and_summarise(scalars, wanted_tag, smoothing, logdir, export_dir):
    """Draws scalars.png (a panel per directory, the last MAX_PANELS) and prints a line per panel."""
    found, without_tag = utils.runs_per_directory(scalars, wanted_tag)
    chosen = dict(list(found.items())[-MAX_PANELS:])
    if chosen:
        draw(scalars, chosen, smoothing, export_dir / "scalars.png")
        print(f"{export_dir / 'scalars.png'}: a panel per directory, TensorBoard's smoothing {smoothing:g}")
        if others := list(found)[: -len(chosen)]:
            command = f"python 16_export.py --logdir {shlex.quote(str(logdir / others[0]))}"
            print(f"  the last {MAX_PANELS} of {len(found)} directories; the others, one at a time:  {command}")
        for panel, (tag, runs) in chosen.items():
            latest = runs[-1]
            last = scalars[(scalars.run == latest) & (scalars.tag == tag)].value.iloc[-1]
            print(f"  {panel}: {tag} of {utils.counted(len(runs), 'run')}; the last value of {latest}: {last:.4g}")
            if len(runs) > MAX_CURVES:
                command = f"python 16_export.py --logdir {shlex.quote(str(logdir / panel))} --tag {shlex.quote(tag)}"
                print(f"    the last {MAX_CURVES} drawn; all of them, a panel per directory:  {command}")
    else:
        print("No epoch loss to draw: choose a tag of scalars.csv with --tag.")
    if wanted_tag and without_tag:
        print(f"  No {wanted_tag} in {', '.join(without_tag[:6])}{' ...' * (len(without_tag) > 6)}: no panel for them.")


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(plumbing.default_argv() if argv is None else list(argv))
    if not 0 <= args.smoothing < 1:  # the range of the Scalars tab's smoothing slider
        parser.error(f"argument --smoothing: must be from 0 to below 1, got {args.smoothing:g}")
    logdir, out = Path(args.logdir), args.out and Path(args.out)
    runs = plumbing.count_runs(logdir) if logdir.is_dir() else 0
    if runs == 0:
        plumbing.fail(f"no TensorBoard runs under --logdir {args.logdir!r} (no event file): run a lesson first")
    if out and out.exists() and (not out.is_dir() or any(out.iterdir())):
        plumbing.fail(f"--out {args.out!r} already holds files (or is one): give a new or empty directory")
    scalars, hparams_content = read_logdir(logdir)
    if scalars.empty:
        plumbing.fail(f"no scalars under --logdir {args.logdir!r}: its runs hold other tabs' data (images, graphs...)")
    tags = sorted(set(scalars.tag))
    points = f"{len(scalars):,} scalar points of {utils.counted(len(tags), 'tag')}"
    print(f"Read {utils.counted(runs, 'run')} under {logdir}: {points}.")
    if args.tag and args.tag not in tags:
        plumbing.fail(f"no scalar tag {args.tag!r} under --logdir; its tags: {', '.join(tags[:15])}")

    export_dir = out or plumbing.new_run_dir(".", "exports")
    export_dir.mkdir(parents=True, exist_ok=True)
    utils.write_csv(scalars, export_dir / "scalars.csv")
    print(f"\n{export_dir / 'scalars.csv'}: every point, a row each (run, tag, step, wall_time, value)")
    write_hparams(scalars, hparams_content, export_dir / "hparams.csv")
    draw_and_summarise(scalars, args.tag, args.smoothing, logdir, export_dir)
    print(f"\nCompare with the tabs:  tensorboard --logdir {shlex.quote(str(logdir))}{plumbing.toggle_note(logdir)}")


if __name__ == "__main__":
    ctrl_c.run(main)
