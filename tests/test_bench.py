"""bench/pipeline_bench.py --quick completes and writes every figure. No test asserts a speed."""

import json
import math

from conftest import run_python

ROWS = [
    "compute only",
    "naive pipeline",
    "starter pipeline (",
    "starter pipeline alone",
    "starter / compute only",
    "starter / naive",
    "epoch without summaries",
    "per-batch scalars",
    "per-epoch histograms",
    "per-epoch confusion-matrix image",
]


def test_quick_benchmark_writes_a_table_and_json_with_every_figure(tmp_path):
    result = run_python("bench/pipeline_bench.py", "--quick", "--output-dir", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "results.json").read_text())
    top_level = ["compute_only_ips", "naive_ips", "starter_ips", "pipeline_only_ips"]
    top_level += ["starter_over_compute", "starter_over_naive"]
    overheads = ["scalars_per_batch", "histograms_per_epoch", "confusion_matrix_per_epoch"]
    values = [figures[key] for key in top_level] + [figures["logging_overhead"][key] for key in overheads]
    assert all(math.isfinite(value) and value > 0 for value in values), figures
    assert figures["machine"]["cores"] > 0 and figures["machine"]["tensorflow"]

    table = (tmp_path / "RESULTS.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    for name, row in zip(ROWS, rows, strict=True):
        assert row.startswith(f"| {name}"), row
        figure = row.split("|")[2].split()[0].replace(",", "")
        assert math.isfinite(float(figure)) and float(figure) > 0, row
