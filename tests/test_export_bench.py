"""bench/export_bench.py --quick runs every reader as a process and records each one's figures. No test asserts a
speed: the targets are met (or not) in the benchmark's recorded run, bench/EXPORT_RESULTS.md."""

import json

from support.scripts import run_python

READERS = ["16_export", "16_reader", "tbparse", "event_file_loader", "data_server"]


def test_quick_export_benchmark_records_every_reader_side_by_side(tmp_path):
    result = run_python(
        "bench/export_bench.py", "--quick", "--output-dir", str(tmp_path), "--logdir", str(tmp_path / "logs")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "export_results.json").read_text())
    assert figures["points"] == 2 * 2 * 500 and figures["rounds"] == 1
    assert list(figures["readers"]) == READERS
    for reader in READERS:
        figure = figures["readers"][reader]
        # Each reader read every point of the generated logdir, in a process timed and measured on its own.
        assert figure["every_point"] is True, reader
        (measured,) = figure["rounds"]
        assert measured["points"] == figures["points"]
        assert figure["seconds"] == measured["seconds"] > 0 and figure["peak_mb"] == measured["peak_mb"] > 0
    targets = {target["name"]: target for target in figures["targets"]}
    assert len(targets) == 4
    for target in targets.values():
        numerator, denominator = target["ratio"], target["target"]
        assert target["met"] == (numerator >= denominator if target["comparison"] == ">=" else numerator <= denominator)
    table = (tmp_path / "EXPORT_RESULTS.md").read_text()
    assert table.count("| met |") + table.count("| NOT met |") == 4
    assert len(figures["machine"]["load_average_before"]) == 3
