"""bench/export_bench.py --quick runs every reader as a process and records each one's figures. No test asserts a
speed: the targets are met (or not) in the benchmark's recorded run, bench/EXPORT_RESULTS.md."""

import importlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from support.scripts import ROOT, run_python

READERS = ["16_export", "16_reader", "tbparse", "event_file_loader", "data_server"]


def test_quick_export_benchmark_records_every_reader_side_by_side_and_not_over_the_recorded_run(tmp_path):
    recorded = {name: (ROOT / "bench" / name).read_bytes() for name in ("EXPORT_RESULTS.md", "export_results.json")}
    # No --output-dir: a smoke test's figures go to a new temporary directory (here under tmp_path), never bench/.
    result = run_python(
        "bench/export_bench.py", "--quick", "--logdir", str(tmp_path / "logs"), env={"TMPDIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {name: (ROOT / "bench" / name).read_bytes() for name in recorded} == recorded
    (written,) = re.findall(r"^Written: (.+)/EXPORT_RESULTS\.md and ", result.stdout, re.MULTILINE)
    output_dir = Path(written)
    assert output_dir.parent == tmp_path
    figures = json.loads((output_dir / "export_results.json").read_text())
    assert figures["points"] == 2 * 2 * 500 and figures["rounds"] == 1
    assert list(figures["readers"]) == READERS
    for reader in READERS:
        figure = figures["readers"][reader]
        # Each reader read every point of the generated logdir, in a process timed and measured on its own.
        assert figure["every_point"] is True, reader
        (measured,) = figure["rounds"]
        assert measured["points"] == figures["points"]
        assert figure["seconds"] == measured["seconds"] > 0 and figure["peak_mb"] == measured["peak_mb"] > 0
        # 16's scalars.csv is also compared value by value with the generator's; the others give a count only.
        assert figure["values"] is (True if reader == "16_export" else None), reader
    targets = {target["name"]: target for target in figures["targets"]}
    assert len(targets) == 4
    for target in targets.values():
        numerator, denominator = target["ratio"], target["target"]
        assert target["met"] == (numerator >= denominator if target["comparison"] == ">=" else numerator <= denominator)
    table = (output_dir / "EXPORT_RESULTS.md").read_text()
    assert table.count("| met |") + table.count("| NOT met |") == 4
    assert table.count("| yes: count and values |") == 1 and table.count("| yes |") == 4
    assert len(figures["machine"]["load_average_before"]) == 3


def test_the_value_check_finds_a_single_changed_value_or_a_missing_point(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    bench = importlib.import_module("export_bench")
    sizes = {"runs": 2, "tags": 3, "steps": 50}
    rows = [
        (f"run_{run:02d}", tag, step, 1.0, float(value))
        for run in range(sizes["runs"])
        for index, tag in enumerate(bench.tag_names(sizes["tags"]))
        for step, value in enumerate(bench.values_of(run, sizes["tags"], sizes["steps"])[:, index])
    ]
    table = pd.DataFrame(rows[::-1], columns=["run", "tag", "step", "wall_time", "value"])  # any row order
    table.to_csv(tmp_path / "good.csv", index=False)
    assert bench.same_values(tmp_path / "good.csv", sizes)
    changed = table.copy()
    changed.loc[7, "value"] = np.nextafter(changed.loc[7, "value"], np.inf)  # one value off by the least possible
    changed.to_csv(tmp_path / "changed.csv", index=False)
    assert not bench.same_values(tmp_path / "changed.csv", sizes)
    table.drop(index=3).to_csv(tmp_path / "missing.csv", index=False)
    assert not bench.same_values(tmp_path / "missing.csv", sizes)
