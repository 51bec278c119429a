"""bench/pipeline_bench.py --quick completes and writes every figure. No test asserts a speed."""

import json
import math
import statistics
import sys
import time
from pathlib import Path

from support.scripts import ROOT, run_python

# bench/ is no package: its entry point imports its modules from its own folder, and so do these tests.
sys.path.insert(0, str(ROOT / "bench"))
import report  # noqa: E402
import rounds  # noqa: E402

ROWS = [
    "compute only",
    "starter pipeline (",
    "starter pipeline, augmentation not compiled with XLA (before)",
    "video's pipeline (",
    "starter pipeline alone",
    "video's pipeline alone",
    "train step compiled with XLA",
    "starter / compute only (target: at least 0.95",
    "starter, augmentation not compiled with XLA (before) / compute only",
    "starter / video's, pipelines alone (target: at least 1.5",
    "starter / video's, training",
    "XLA / plain train step",
    "training cache of 2,048 images, starter",
    "training cache of 2,048 images, video's",
    "starter's cache / video's (target: at most 0.25",
    "epoch without summaries",
    "per-batch scalars",
    "per-epoch histograms",
    "per-epoch confusion-matrix image",
]
RATES = [
    "compute_only_ips", "starter_ips", "starter_without_xla_ips", "video_ips", "starter_alone_ips",
    "video_alone_ips", "xla_ips",
]  # fmt: skip
RATIOS = [
    "starter_over_compute", "starter_without_xla_over_compute", "starter_over_video",
    "starter_over_video_training", "xla_over_plain",
]  # fmt: skip
OVERHEADS = ["scalars_per_batch", "histograms_per_epoch", "confusion_matrix_per_epoch"]


def test_quick_benchmark_writes_a_table_and_json_with_every_figure(tmp_path):
    result = run_python("bench/pipeline_bench.py", "--quick", "--output-dir", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "results.json").read_text())
    caches = ["train_cache_mb", "video_train_cache_mb", "train_cache_over_video"]
    values = [figures[key] for key in RATES + RATIOS + caches]
    values += [figures["logging_overhead"][key] for key in OVERHEADS]
    assert all(math.isfinite(value) and value > 0 for value in values), figures
    assert figures["machine"]["cores"] > 0 and figures["machine"]["tensorflow"]

    # --quick runs 3 paired rounds; every figure is the median of its rounds, inside its interquartile range.
    assert figures["rounds"] == 3
    per_round, quartiles = figures["per_round"], figures["interquartile"]
    for key in RATES + RATIOS:
        assert len(per_round[key]) == 3, key
        assert math.isclose(figures[key], statistics.median(per_round[key])), key
        first, third = quartiles[key]
        assert first <= figures[key] <= third, key
    for key in OVERHEADS:
        assert math.isclose(figures["logging_overhead"][key], statistics.median(per_round[key])), key

    # Each ratio is taken within a round: the ratio of the rates it names, round by round.
    def round_ratios(top, bottom):
        return [a / b for a, b in zip(per_round[top], per_round[bottom], strict=True)]

    assert per_round["starter_over_compute"] == round_ratios("starter_ips", "compute_only_ips")
    assert per_round["starter_without_xla_over_compute"] == round_ratios("starter_without_xla_ips", "compute_only_ips")
    assert per_round["starter_over_video"] == round_ratios("starter_alone_ips", "video_alone_ips")
    assert per_round["starter_over_video_training"] == round_ratios("starter_ips", "video_ips")
    assert per_round["xla_over_plain"] == round_ratios("xla_ips", "compute_only_ips")
    # Each pipeline alone is read twice a round, and the round's rate is the faster read's.
    for name in ("starter_alone", "video_alone"):
        reads = per_round[f"{name}_reads_ips"]
        assert [len(pair) for pair in reads] == [2, 2, 2], name
        assert per_round[f"{name}_ips"] == [max(pair) for pair in reads], name
    # Steal time is counted where /proc/stat has it (Linux): a share of the CPU time, round by round, its median
    # reported; elsewhere it is null, and RESULTS.md says nothing of it.
    shares = per_round["stolen_share"]
    assert len(shares) == 3, shares
    if Path("/proc/stat").exists():
        assert all(0 <= share < 1 for share in shares), shares
        assert math.isclose(figures["stolen_share"], statistics.median(shares))
    else:
        assert shares == [None] * 3 and figures["stolen_share"] is None
    # A per-epoch summary only adds to an epoch; a pipeline feeding no model beats the same one feeding the step.
    assert all(overhead > 1 for key in OVERHEADS[1:] for overhead in per_round[key])
    assert figures["starter_alone_ips"] > figures["starter_ips"]
    assert figures["video_alone_ips"] > figures["video_ips"]

    # The caches were measured, for the quick run's 2,048 images: the float32 cache holds four times the
    # bytes of the uint8 one, and each measured growth is at least most of the tensors it holds.
    memory = figures["cache_memory"]
    assert memory["images"] == 2048
    assert math.isclose(memory["starter"]["payload_mb"], 2048 * (32 * 32 * 3 + 8) / 1e6)
    assert math.isclose(memory["video"]["payload_mb"], 2048 * (32 * 32 * 3 * 4 + 8) / 1e6)
    assert figures["train_cache_mb"] == memory["starter"]["mb"]
    assert figures["video_train_cache_mb"] == memory["video"]["mb"]
    assert math.isclose(figures["train_cache_over_video"], figures["train_cache_mb"] / figures["video_train_cache_mb"])
    assert figures["video_train_cache_mb"] > figures["train_cache_mb"]
    for name in ("starter", "video"):
        assert memory[name]["mb"] > 0.5 * memory[name]["payload_mb"], memory

    took = figures["seconds"]
    assert all(took[section] > 0 for section in ("rounds", "cache_memory"))
    assert figures["total_seconds"] == took["total"]
    assert math.isclose(took["total"], took["rounds"] + took["cache_memory"], rel_tol=0.05)

    table = (tmp_path / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    for name, row in zip(ROWS, rows, strict=True):
        assert row.startswith(f"| {name}"), row
        figure = row.split("|")[2].split()[0].replace(",", "")
        assert math.isfinite(float(figure)) and float(figure) > 0, row
    # A first run in an empty directory has no previous run to compare with.
    assert "previous" not in table
    assert ("steal time in /proc/stat" in table) == (figures["stolen_share"] is not None)


def test_the_notes_set_this_run_next_to_the_previous_run_with_the_same_settings(tmp_path):
    """RESULTS.md's notes compare each ratio with the previous run's results.json, if its settings were the same."""
    this_run = {
        **{key: 1.0 for key in RATIOS},
        "train_cache_over_video": 0.2,
        "logging_overhead": dict.fromkeys(OVERHEADS, 1.01),
        "data": {"train": 50_000, "quick": False},
        "rounds": 20,
    }
    previous_run = {**this_run, "starter_over_compute": 0.9, "machine": {"load_average_at_start": 0.1}}
    previous_run["total_seconds"] = 700.0
    path = tmp_path / "results.json"
    path.write_text(json.dumps(previous_run))
    assert report.previous_results(path, this_run["data"]) == previous_run
    assert report.previous_results(path, {**this_run["data"], "quick": True}) is None
    assert report.previous_results(tmp_path / "missing.json", this_run["data"]) is None

    notes = "\n".join(report.repeatability(this_run, previous_run))
    assert "| starter_over_compute | 1.000 | 0.900 | +0.100 (+11.1%) (more than 0.05) |" in notes
    assert "| xla_over_plain | 1.000 | 1.000 | +0.000 (+0.0%) |" in notes
    assert "| logging_overhead.scalars_per_batch | 1.010 | 1.010 | +0.000 (+0.0%) |" in notes
    assert "| train_cache_over_video | 0.20000 | 0.20000 | +0.00000 (+0.0%) |" in notes


def test_each_round_runs_every_variant_once_and_reads_the_pipelines_alone_twice_mirrored():
    names = [
        "compute_only", "xla", "starter", "video", "starter_alone", "video_alone", "scalars_per_batch",
        "evaluate", "histograms_per_epoch", "confusion_matrix_per_epoch", "starter_without_xla",
    ]  # fmt: skip
    orders = [rounds.round_order(names, number) for number in range(20)]
    for number, order in enumerate(orders):
        assert len(order) == len(names) + 2, order
        once = [name for name in order if name not in rounds.ALONE]
        assert sorted(once) == sorted(set(names) - set(rounds.ALONE)), order
        # The confusion matrix plots the predictions the round's evaluation made.
        assert order.index("confusion_matrix_per_epoch") == order.index("evaluate") + 1, order
        # Four reads in a row, mirrored, the first pipeline alternating from round to round.
        first, second = rounds.ALONE if number % 2 == 0 else rounds.ALONE[::-1]
        start = order.index(first)
        assert order[start : start + 4] == [first, second, second, first], order
    # Shuffled anew each round, the same for the same round: no two rounds alike, no variant always first, and
    # no variant always right after the same neighbour.
    assert len({tuple(order) for order in orders}) == len(orders)
    assert rounds.round_order(names, 7) == orders[7]
    assert len({order[0] for order in orders}) > 3, orders
    for name in ("compute_only", "starter", "video", "xla", "scalars_per_batch", "starter_without_xla"):
        followers = {order[order.index(name) + 1] if order[-1] != name else None for order in orders}
        assert len(followers) > 2, (name, followers)


def test_a_warm_up_runs_right_before_its_variant_and_is_not_timed():
    calls = []

    def variant(name, seconds=0.0, images=64):
        def run():
            calls.append(name)
            time.sleep(seconds)
            return images

        return run

    names = ["compute_only", "starter_alone", "video_alone", "evaluate", "confusion_matrix_per_epoch"]
    variants = {name: variant(name) for name in names}
    warm_ups = {"compute_only": variant("warm-up", seconds=0.2)}
    timed = rounds.paired_rounds(variants, warm_ups, rounds=2, first_round=1)
    for number in (1, 2):
        order = rounds.round_order(names, number)
        position = order.index("compute_only")
        expected = [*order[:position], "warm-up", *order[position:]]
        assert calls[: len(expected)] == expected, calls
        del calls[: len(expected)]
    # Two rounds of every variant, the pipelines alone twice a round; the warm-up's 0.2 s are in no timing.
    assert [len(runs) for runs in timed["starter_alone"]] == [2, 2]
    assert all(seconds < 0.1 for runs in timed["compute_only"] for seconds, _, _ in runs), timed["compute_only"]
