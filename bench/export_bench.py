"""
Title: How fast does 16_export.py get every point out, against the other readers?
Description: A generated logdir (10 runs x 4 tags x 25,000 steps = 1,000,000 points, written with tf.summary.scalar)
read by 16's whole export, 16's reader alone, tbparse, a pure-Python EventFileLoader loop and TensorBoard's data
server alone, each as a whole separate process, timed with its peak memory, side by side in rounds (bench/README.md).

Run it:   python bench/export_bench.py            (about 6 minutes on a 2-core machine)
          python bench/export_bench.py --quick    (a logdir of 2,000 points and one round: a smoke test)
Writes:   bench/EXPORT_RESULTS.md (a table) and bench/export_results.json (the same figures), or into --output-dir
          (with --quick, a new temporary directory by default: a smoke test never writes over the recorded results).
"""

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from export_logdir import tag_names, values_of  # noqa: E402

SIZES = {"runs": 10, "tags": 4, "steps": 25_000}
QUICK_SIZES = {"runs": 2, "tags": 2, "steps": 500}
ROUNDS, QUICK_ROUNDS = 3, 1
SAMPLE_SECONDS = 0.02  # how often the memory of a reader's processes is sampled
READERS = {
    "16_export": "16's whole export (read, scalars.csv, the figure)",
    "16_reader": "16's reader alone (logdir to a pandas DataFrame)",
    "tbparse": "tbparse's read (SummaryReader(...).tensors)",
    "event_file_loader": "a pure-Python EventFileLoader loop (16's fallback)",
    "data_server": "TensorBoard's data server alone (load, then every point over gRPC)",
}
# (name, numerator, denominator, figure, comparison, target)
TARGETS = [
    ("16's reader, speed-up over tbparse", "tbparse", "16_reader", "seconds", ">=", 5),
    ("16's whole export, speed-up over tbparse's read", "tbparse", "16_export", "seconds", ">=", 3),
    ("16's whole export, peak memory / tbparse's", "16_export", "tbparse", "peak_mb", "<=", 0.5),
    ("16's whole export, time / the data server's read alone", "16_export", "data_server", "seconds", "<=", 3),
]


def command(reader, logdir, out_dir):
    """The command line of one reader's process."""
    if reader == "16_export":
        return [sys.executable, str(ROOT / "16_export.py"), "--logdir", str(logdir), "--out", str(out_dir)]
    return [sys.executable, str(ROOT / "bench" / "export_readers.py"), reader, str(logdir)]


def same_values(csv_path, sizes):
    """Whether scalars.csv holds exactly the generated points: each run's each tag at steps 0, 1, ..., each value
    equal to the generator's (a float32 logged, read back as the same number)."""
    table = pd.read_csv(csv_path, float_precision="round_trip").sort_values(["run", "tag", "step"], kind="stable")
    series = dict(list(table.groupby(["run", "tag"], sort=False)))
    if len(series) != sizes["runs"] * sizes["tags"]:
        return False
    for run in range(sizes["runs"]):
        values = values_of(run, sizes["tags"], sizes["steps"])
        for index, tag in enumerate(tag_names(sizes["tags"])):
            points = series.get((f"run_{run:02d}", tag))
            if points is None or not np.array_equal(points.step, np.arange(sizes["steps"])):
                return False
            if not np.array_equal(points.value.to_numpy(), values[:, index].astype(np.float64)):
                return False
    return True


def measure(reader, logdir, work_dir, sizes):
    """Runs one reader as a whole process: its wall time, its peak memory (the largest sum of its processes' resident
    memory, sampled every SAMPLE_SECONDS, or the kernel's peak of its largest process if larger), its output; for
    16's export, whether scalars.csv holds every generated value (checked after the timing)."""
    out_dir = Path(tempfile.mkdtemp(dir=work_dir))
    with open(out_dir / "stdout", "w+") as stdout, open(out_dir / "stderr", "w+") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command(reader, logdir, out_dir / "export"), stdout=stdout, stderr=stderr)
        peak, tree = 0, psutil.Process(process.pid)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            try:
                processes = [tree, *tree.children(recursive=True)]
                peak = max(peak, sum(child.memory_info().rss for child in processes))
            except psutil.NoSuchProcess:
                pass
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"error: {reader} failed (exit status {process.returncode}):\n{errors[-2000:]}")
    values = None  # checked for 16's export only: the other readers print their count of points
    if reader == "16_export":
        rows = sum(1 for _ in open(out_dir / "export" / "scalars.csv")) - 1
        points = rows if (out_dir / "export" / "scalars.png").exists() else -1
        values = same_values(out_dir / "export" / "scalars.csv", sizes)
    else:
        points = int(output.strip().splitlines()[-1])
    peak_mb = max(peak, usage.ru_maxrss * 1024) / 2**20
    return {"seconds": seconds, "peak_mb": peak_mb, "points": points, "values": values}


def run_rounds(logdir, sizes, rounds, work_dir):
    """Each round runs every reader once, in an order shuffled anew each round (seeded by the round's number)."""
    measured = {reader: [] for reader in READERS}
    for number in range(rounds):
        order = list(READERS)
        random.Random(number).shuffle(order)
        for reader in order:
            result = measure(reader, logdir, work_dir, sizes)
            measured[reader].append(result)
            print(f"round {number + 1}/{rounds}  {reader:18} {result['seconds']:7.2f} s  {result['peak_mb']:7.0f} MB")
    return measured


def summarize(measured, sizes, rounds, load_before, load_after, seconds):
    """The figures: each reader's median seconds and peak memory over the rounds, the targets, the machine."""
    points = sizes["runs"] * sizes["tags"] * sizes["steps"]
    readers = {}
    for reader, results in measured.items():
        readers[reader] = {
            "seconds": statistics.median(result["seconds"] for result in results),
            "peak_mb": statistics.median(result["peak_mb"] for result in results),
            "every_point": all(result["points"] == points for result in results),
            # True: every value equal to the generator's, in every round; None: not checked (only the count).
            "values": None if results[0]["values"] is None else all(result["values"] for result in results),
            "rounds": results,
        }
    targets = []
    for name, numerator, denominator, figure, comparison, target in TARGETS:
        ratio = readers[numerator][figure] / readers[denominator][figure]
        met = ratio >= target if comparison == ">=" else ratio <= target
        targets.append({"name": name, "ratio": ratio, "comparison": comparison, "target": target, "met": met})
    return {
        "sizes": sizes,
        "points": points,
        "rounds": rounds,
        "readers": readers,
        "targets": targets,
        "seconds": seconds,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
    }


def report(figures):
    """RESULTS as Markdown: a row per reader, a row per target."""
    sizes = figures["sizes"]
    lines = [
        "# The export benchmark: every point of a logdir, reader by reader",
        "",
        f"A logdir of {sizes['runs']} runs x {sizes['tags']} tags x {sizes['steps']:,} steps = {figures['points']:,} "
        f"points; each reader a whole process, {figures['rounds']} round(s), medians. Load average (1, 5, 15 min) "
        f"before: {', '.join(f'{x:.2f}' for x in figures['machine']['load_average_before'])}; after: "
        f"{', '.join(f'{x:.2f}' for x in figures['machine']['load_average_after'])}; {figures['machine']['cores']} "
        "cores. See bench/README.md.",
        "",
        "| Reader | Seconds | Peak memory (MB) | Every point |",
        "|---|---|---|---|",
    ]
    for reader, title in READERS.items():
        figure = figures["readers"][reader]
        every = "yes" if figure["every_point"] else "NO"
        if figure["values"] is not None:
            every += ": count and values" if figure["values"] else ": count, but values DIFFER"
        lines.append(f"| {title} | {figure['seconds']:.2f} | {figure['peak_mb']:.0f} | {every} |")
    lines += ["", "| Target | Measured | Target | |", "|---|---|---|---|"]
    for target in figures["targets"]:
        verdict = "met" if target["met"] else "NOT met"
        lines.append(
            f"| {target['name']} | {target['ratio']:.2f} | {target['comparison']} {target['target']} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Time 16_export.py against the other readers of a logdir.")
    parser.add_argument("--quick", action="store_true", help="a logdir of 2,000 points and one round: a smoke test")
    parser.add_argument("--rounds", type=int, help=f"rounds of every reader (default: {ROUNDS}, 1 with --quick)")
    parser.add_argument("--output-dir", help="where the results go (default: bench/; with --quick, a temp dir)")
    parser.add_argument("--logdir", help="where the generated logdir goes, reused when finished (default: a temp dir)")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    name = "tb-export-bench-{runs}x{tags}x{steps}".format(**sizes)
    logdir = Path(args.logdir or Path(tempfile.gettempdir()) / name)
    started = time.perf_counter()
    print(f"Writing (or reusing) the logdir {logdir} ...")
    subprocess.run([sys.executable, str(ROOT / "bench" / "export_logdir.py"), str(logdir), *map(str, sizes.values())],
                   check=True, capture_output=True)  # fmt: skip
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as work_dir:
        measured = run_rounds(logdir, sizes, rounds, work_dir)
    figures = summarize(measured, sizes, rounds, load_before, os.getloadavg(), time.perf_counter() - started)
    if args.output_dir or not args.quick:
        output_dir = Path(args.output_dir or ROOT / "bench")
    else:  # a smoke test's figures are not the recorded run's
        output_dir = Path(tempfile.mkdtemp(prefix="export-bench-quick-"))
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "export_results.json").write_text(json.dumps(figures, indent=2) + "\n")
    (output_dir / "EXPORT_RESULTS.md").write_text(report(figures))
    print(report(figures))
    print(f"Written: {output_dir / 'EXPORT_RESULTS.md'} and {output_dir / 'export_results.json'}")


if __name__ == "__main__":
    main()
