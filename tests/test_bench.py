"""bench/pipeline_bench.py --quick completes and writes every figure. No test asserts a speed."""

import json
import math

from conftest import run_python

ROWS = [
    "compute only",
    "starter pipeline (",
    "video's pipeline (",
    "starter pipeline alone",
    "video's pipeline alone",
    "starter / compute only",
    "starter / video's, pipelines alone",
    "starter / video's, training",
    "training cache of 2,048 images, starter",
    "training cache of 2,048 images, video's",
    "epoch without summaries",
    "per-batch scalars",
    "per-epoch histograms",
    "per-epoch confusion-matrix image",
]


def test_quick_benchmark_writes_a_table_and_json_with_every_figure(tmp_path):
    result = run_python("bench/pipeline_bench.py", "--quick", "--output-dir", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "results.json").read_text())
    rates = ["compute_only_ips", "starter_ips", "video_ips", "starter_alone_ips", "video_alone_ips"]
    ratios = ["starter_over_compute", "starter_over_video", "starter_over_video_training"]
    caches = ["train_cache_mb", "video_train_cache_mb"]
    overheads = ["scalars_per_batch", "histograms_per_epoch", "confusion_matrix_per_epoch"]
    values = [figures[key] for key in rates + ratios + caches]
    values += [figures["logging_overhead"][key] for key in overheads]
    assert all(math.isfinite(value) and value > 0 for value in values), figures
    assert figures["machine"]["cores"] > 0 and figures["machine"]["tensorflow"]

    # The ratios are the rates they say they are, from the same run.
    assert math.isclose(figures["starter_over_video"], figures["starter_alone_ips"] / figures["video_alone_ips"])
    assert math.isclose(figures["starter_over_video_training"], figures["starter_ips"] / figures["video_ips"])
    # A pipeline feeding no model is faster than the same pipeline feeding the train step.
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
    assert figures["video_train_cache_mb"] > figures["train_cache_mb"]
    for name in ("starter", "video"):
        assert memory[name]["mb"] > 0.5 * memory[name]["payload_mb"], memory

    took = figures["seconds"]
    assert all(took[section] > 0 for section in ("training_rates", "cache_memory", "logging"))
    assert math.isclose(took["total"], took["training_rates"] + took["cache_memory"] + took["logging"], rel_tol=0.05)

    table = (tmp_path / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    for name, row in zip(ROWS, rows, strict=True):
        assert row.startswith(f"| {name}"), row
        figure = row.split("|")[2].split()[0].replace(",", "")
        assert math.isfinite(float(figure)) and float(figure) > 0, row
