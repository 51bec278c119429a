"""08_profiler.py: a profile with step markers for each pipeline, the profiled steps, the printed input wait against
the Overview page the real TensorBoard serves, and the naive pipeline."""

import importlib
import re

import pytest

import starter

from support import tb_read
from tensorboard_server import running_tensorboard

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
    (profile,) = xplane_profiles(profiler_run.run_dir, "naive")
    # The Trace("train", step_num=N, _r=1) of each step, on the host's trace-me line.
    assert tb_read.step_numbers(profile) == set(profiled_steps(profiler_run.stdout))


def profiled_steps(stdout):
    """The steps the script says it profiled: `Profiling steps 23 to 54 of 69, ...`."""
    first, last = map(int, re.search(r"^Profiling steps (\d+) to (\d+) of \d+, ", stdout, re.M).groups())
    return range(first, last + 1)


def printed_shares(stdout):
    """{pipeline: the input wait the script printed for it, in percent}."""
    return {name: float(share) for name, share in re.findall(r"^\s+(naive|optimized): ([0-9.]+)%$", stdout, re.M)}


def counted_steps(stdout):
    """The steps the script says it measured: `... over steps 24 to 37`."""
    first, last = map(int, re.search(r"measured by this script over steps (\d+) to (\d+)$", stdout, re.M).groups())
    return range(first, last + 1)


def test_the_script_prints_the_input_wait_it_measured_for_each_pipeline(profiler_run):
    shares = printed_shares(profiler_run.stdout)
    assert set(shares) == {"naive", "optimized"}
    assert all(0.0 <= share <= 100.0 for share in shares.values())
    assert shares["optimized"] < shares["naive"]
    assert "\nas 'All others'. Its verdict's thresholds (20% and 5%) apply to its own figures" in profiler_run.stdout


@pytest.fixture(scope="module")
def overview_pages(profiler_run):
    """{pipeline: the Overview page's step-time graph, as the real TensorBoard serves it: {column: values}}."""
    plugin = "/data/plugin/profile"
    with running_tensorboard(profiler_run.run_dir.parent) as server:

        def runs_of_this_run():
            return [run for run in server.get(f"{plugin}/runs") if run.startswith(f"{profiler_run.run_dir.name}/")]

        server.wait_until(lambda: len(runs_of_this_run()) == 2, what="both profiles of the run")
        pages = {}
        for run in runs_of_this_run():
            (host,) = server.get(f"{plugin}/hosts", run=run, tag="overview_page")
            tables = server.get(f"{plugin}/data", run=run, tag="overview_page", host=host["hostname"])
            (graph,) = [table for table in tables if table and (table.get("p") or {}).get("steptime_ms_average")]
            columns = [column["id"] for column in graph["cols"]]
            pages[run.split("/")[1]] = {
                column: [row["c"][i]["v"] for row in graph["rows"]] for i, column in enumerate(columns)
            }
    return pages


def test_the_overview_page_counts_the_steps_the_script_measured(profiler_run, overview_pages):
    profiled = profiled_steps(profiler_run.stdout)
    measured = counted_steps(profiler_run.stdout)
    # All profiled steps but the first and the last: the script measures exactly the Overview page's rows.
    assert measured == range(profiled.start + 1, profiled.stop - 1)
    for pipeline, page in overview_pages.items():
        assert page["stepnum"] == [f"train {step}" for step in measured], pipeline


def share_of_step_time(page, column):
    """What the profiler's verdict quotes: a column's sum over the sum of the step times, in percent."""
    return 100 * sum(page[column]) / sum(page["stepTimeMs"])


def test_the_printed_share_agrees_with_the_profilers_own_figure(profiler_run, overview_pages):
    printed = printed_shares(profiler_run.stdout)
    for pipeline, page in overview_pages.items():
        # The script times the whole next() call. The profiler counts tf.data's own work as Input and the
        # Python around it (in next(), and around the step) as "All others", so the printed share lies between
        # the two. The 0.5-point slack covers the rounding of the printed figure and the script's clock running
        # a few microseconds longer than the step marker (it starts before entering the Trace, stops after it).
        profiler_input = share_of_step_time(page, "infeedTimeMs")
        all_others = share_of_step_time(page, "otherTimeMs")
        assert profiler_input - 0.5 <= printed[pipeline] <= profiler_input + all_others + 0.5, (pipeline, page)


def test_the_naive_pipeline_waits_longer_for_input_in_the_profile_too(overview_pages):
    naive, optimized = (share_of_step_time(overview_pages[name], "infeedTimeMs") for name in ("naive", "optimized"))
    assert naive > optimized


def test_it_says_when_it_trains_more_epochs_than_asked_for(profiler_run):
    # --quick on digits: 16 batches an epoch, so the warm-up epoch and the 32 profiled steps need 3 epochs, not
    # the one epoch that --quick asks for.
    assert "Note: an epoch has 16 batch(es): training 3 epochs instead of 1," in profiler_run.stdout
    assert "Profiling steps 16 to 47 of 48, after a warm-up epoch." in profiler_run.stdout


def test_the_closing_lines_name_the_profile_tab_in_plain_english(profiler_run):
    assert "Then open http://localhost:6006 and the Profile tab." in profiler_run.stdout


def test_it_says_which_device_ran(profiler_run):
    assert re.search(r"^Training runs on the (CPU|GPU)\.$", profiler_run.stdout, re.MULTILINE)


def test_an_epoch_of_one_batch_still_gives_a_profile_of_each_pipeline(run_script):
    # --quick keeps 1,024 images: one batch of 1,024 per epoch, so 3 warm-up steps and 32 profiled ones take 35.
    one_batch = run_script("08_profiler.py", "--batch-size", "1024")
    assert "Note: an epoch has 1 batch(es): training 35 epochs instead of 1," in one_batch.stdout
    for pipeline in ("naive", "optimized"):
        assert len(xplane_profiles(one_batch.run_dir, pipeline)) == 1, pipeline


@pytest.mark.parametrize("steps_per_epoch", [1, 2, 3, 16, 18, 19, 23, 100, 782])
@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_the_profiled_steps_follow_a_warm_up_epoch_and_all_happen(steps_per_epoch, epochs):
    profiled, counted, epochs_to_train = profiler_script.profile_plan(steps_per_epoch, epochs)
    # The warm-up is one whole epoch (the optimized pipeline's cache is then full), and never under 3 steps.
    warm_up = max(steps_per_epoch, profiler_script.MIN_WARM_UP_STEPS)
    assert profiled == range(warm_up, warm_up + profiler_script.PROFILED_STEPS)
    assert counted == range(profiled.start + 1, profiled.stop - 1)
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
