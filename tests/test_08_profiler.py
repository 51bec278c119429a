"""08_profiler.py: a profile for each pipeline, and the input-wait shares the script measured."""

import re

import pytest


@pytest.fixture(scope="module")
def profiler_run(run_script):
    return run_script("08_profiler.py")


def test_both_runs_have_an_xplane_profile(profiler_run):
    for name in ("naive", "optimized"):
        profiles = list((profiler_run.run_dir / name / "train" / "plugins" / "profile").glob("*/*.xplane.pb"))
        assert len(profiles) == 1, name
        assert profiles[0].stat().st_size > 1000


def test_the_optimized_pipeline_waits_no_more_than_the_naive_one(profiler_run):
    shares = dict(re.findall(r"^\s+(naive|optimized): ([0-9.]+)%$", profiler_run.stdout, re.MULTILINE))
    assert set(shares) == {"naive", "optimized"}
    naive, optimized = float(shares["naive"]), float(shares["optimized"])
    assert 0.0 <= optimized <= 100.0 and 0.0 <= naive <= 100.0
    assert optimized <= naive


def test_it_says_which_device_ran(profiler_run):
    assert re.search(r"^Training runs on the (CPU|GPU)\.$", profiler_run.stdout, re.MULTILINE)
