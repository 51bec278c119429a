"""08_profiler.py: a profile with step markers for each pipeline, the profiled steps, and the naive pipeline."""

import importlib
import re

import pytest

import starter

profiler_script = importlib.import_module("08_profiler")


@pytest.fixture(scope="module")
def profiler_run(run_script):
    return run_script("08_profiler.py")


def xplane_profiles(run_dir, pipeline):
    """The profiles the Profile tab reads for one pipeline: <run>/<pipeline>/plugins/profile/<time>/<host>.xplane.pb."""
    return list((run_dir / pipeline / "plugins" / "profile").glob("*/*.xplane.pb"))


def test_both_runs_have_one_xplane_profile(profiler_run):
    for pipeline in ("naive", "optimized"):
        profiles = xplane_profiles(profiler_run.run_dir, pipeline)
        assert len(profiles) == 1, pipeline
        assert profiles[0].stat().st_size > 1000


def test_the_profile_holds_the_step_markers_of_the_profiled_steps(profiler_run):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (profile,) = xplane_profiles(profiler_run.run_dir, "naive")
    space = xplane_pb2.XSpace.FromString(profile.read_bytes())
    # The Trace("train", step_num=N, _r=1) of each step, on the host's trace-me line.
    step_events = set()
    for plane in space.planes:
        metadata = {key: value.name for key, value in plane.event_metadata.items()}
        stat_names = {key: value.name for key, value in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                if metadata.get(event.metadata_id) == "train":
                    step_events |= {
                        stat.int64_value for stat in event.stats if stat_names[stat.metadata_id] == "step_num"
                    }
    first, last = map(int, re.search(r"^Profiling steps (\d+) to (\d+) of \d+\.$", profiler_run.stdout, re.M).groups())
    assert step_events == set(range(first, last + 1))


def test_the_script_prints_the_input_wait_it_measured_for_each_pipeline(profiler_run):
    shares = dict(re.findall(r"^\s+(naive|optimized): ([0-9.]+)%$", profiler_run.stdout, re.MULTILINE))
    assert set(shares) == {"naive", "optimized"}
    naive, optimized = float(shares["naive"]), float(shares["optimized"])
    assert 0.0 <= optimized <= 100.0 and 0.0 <= naive <= 100.0
    assert optimized < naive


def test_it_says_which_device_ran(profiler_run):
    assert re.search(r"^Training runs on the (CPU|GPU)\.$", profiler_run.stdout, re.MULTILINE)


def test_an_epoch_of_one_batch_still_gives_a_profile_of_each_pipeline(run_script):
    # --quick keeps 1,024 images: one batch of 1,024 per epoch.
    one_batch = run_script("08_profiler.py", "--batch-size", "1024")
    assert "An epoch has 1 batch(es): training" in one_batch.stdout
    for pipeline in ("naive", "optimized"):
        assert len(xplane_profiles(one_batch.run_dir, pipeline)) == 1, pipeline


@pytest.mark.parametrize("steps_per_epoch", [1, 2, 3, 16, 18, 19, 23, 100, 782])
@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_the_profiled_steps_follow_the_warm_up_and_all_happen(steps_per_epoch, epochs):
    profiled, epochs_to_train = profiler_script.profile_plan(steps_per_epoch, epochs)
    warm_up = profiler_script.WARM_UP_STEPS
    assert profiled == range(warm_up, warm_up + profiler_script.PROFILED_STEPS)
    # Training runs whole epochs, at least as many as asked for, and every profiled step happens...
    assert epochs_to_train >= epochs
    assert profiled.stop <= epochs_to_train * steps_per_epoch
    # ... with no more epochs than the profile needs.
    assert epochs_to_train == epochs or (epochs_to_train - 1) * steps_per_epoch < profiled.stop


def test_the_naive_pipeline_has_the_same_batches_without_tensorflows_automatic_optimizations():
    digits = starter.load_dataset("digits", quick=True, verbose=False)
    naive = profiler_script.naive_train_pipeline(digits, batch_size=16)
    naive_images, naive_labels = next(iter(naive))
    fast_images, fast_labels = next(iter(starter.train_pipeline(digits, batch_size=16)))
    assert naive_images.shape == fast_images.shape and naive_labels.shape == fast_labels.shape
    assert naive_images.dtype == fast_images.dtype
    options = naive.options()
    assert options.experimental_optimization.inject_prefetch is False
    assert options.experimental_optimization.map_and_batch_fusion is False
    assert options.autotune.enabled is False
