"""The report: RESULTS.md's table and notes, results.json's machine, and the warnings a busy machine gets."""

import json
import os
import platform

import tensorflow as tf

from rounds import LOGGING

# The ratios whose targets the issue set, and how each compares: (key, target, "at least" or "at most", noise).
# The caches' ratio lands on a quarter, a little under or over from run to run (bench/README.md, "The targets"): it
# meets its target within that measurement's noise.
CACHE_NOISE = 0.01
TARGETS = (
    ("starter_over_compute", 0.95, "at least", 0.0),
    ("starter_over_video", 1.5, "at least", 0.0),
    ("train_cache_over_video", 0.25, "at most", CACHE_NOISE),
    ("scalars_per_batch", 1.05, "at most", 0.0),
)
# Above this share of CPU time taken by the hypervisor (steal time) in a median round, the bench warns.
STOLEN_SHARE_WARNING = 0.02


def load_average():
    """The 1-minute load average (how many processes wanted a core), or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def warn_if_busy():
    """One line when other processes keep the cores busy: then the rates are not this machine's.

    Read before the benchmark starts, since once it runs it keeps the cores busy itself.
    """
    load, cores = load_average(), os.cpu_count() or 1
    if load is not None and load > 0.5 * cores:
        print(
            f"warning: the load average is {load} on {cores} cores: other processes share the cores, so the "
            "rates will be lower and the ratios less reliable than on an idle machine",
            flush=True,
        )
    return load


def warn_if_stolen(results):
    """One line when the hypervisor took a noticeable share of the CPU during the rounds (steal time)."""
    share = results["stolen_share"]
    if share is not None and share > STOLEN_SHARE_WARNING:
        print(
            f"warning: the hypervisor gave {share:.1%} of this machine's CPU time to other machines during a "
            f"median round (up to {max(results['per_round']['stolen_share']):.1%}): the rates are lower and the "
            "ratios less reliable than on a host of its own",
            flush=True,
        )


def machine():
    return {
        "cores": os.cpu_count(),
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "processor": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
    }


def ips(results, name):
    """A rate, the median of the rounds, with their interquartile range, e.g. '330 images/s (314-339)'."""
    first, third = results["interquartile"][f"{name}_ips"]
    return f"{results[f'{name}_ips']:,.0f} images/s ({first:,.0f}-{third:,.0f})"


def ratio(results, key, digits=3):
    """A per-round ratio's median with its interquartile range, e.g. '0.962 (0.951-0.970)'."""
    first, third = results["interquartile"][key]
    return f"{results[key]:.{digits}f} ({first:.{digits}f}-{third:.{digits}f})"


def overhead(results, key):
    first, third = results["interquartile"][key]
    return f"{results['logging_overhead'][key]:.3f} ({first:.3f}-{third:.3f})"


def cache_mb(cache):
    """A cache's measured memory, the range of its processes and its tensors' bytes (one of cache_memory.measure's).

    For example '163.2 MB (160.1-174.1 MB in 3 processes; 154.0 MB of tensors)'.
    """
    runs = cache["runs_mb"]
    spread = f"{min(runs):,.1f}-{max(runs):,.1f} MB in {len(runs)} processes; " if len(runs) > 1 else ""
    return f"{cache['mb']:,.1f} MB ({spread}{cache['payload_mb']:,.1f} MB of tensors)"


def met(results, key):
    """'met' or 'NOT met': whether a figure reaches the target TARGETS sets for it."""
    target, direction, noise = next(
        (target, direction, noise) for name, target, direction, noise in TARGETS if name == key
    )
    value = results["logging_overhead"][key] if key in results["logging_overhead"] else results[key]
    reached = value >= target - noise if direction == "at least" else value <= target + noise
    within = f" within its noise of {noise}" if noise else ""
    return f"target: {direction} {target}{within}, {'met' if reached else 'NOT met'}"


def stolen_sentence(results):
    """RESULTS.md's sentence on steal time: how much of the CPU the hypervisor took in the rounds, if known."""
    if results["stolen_share"] is None:
        return ""
    first, third = results["interquartile"]["stolen_share"]
    shares = results["per_round"]["stolen_share"]
    return (
        f" The hypervisor gave {results['stolen_share']:.1%} of the CPU time to other machines in a median round "
        f"({first:.1%}-{third:.1%}, at most {max(shares):.1%}; steal time in /proc/stat)."
    )


def results_table(results):
    """The table of RESULTS.md (and of the README's performance section)."""
    epoch_first, epoch_third = results["interquartile"]["epoch_seconds_none"]
    caches = results["cache_memory"]
    cache_images = caches["images"]
    rows = [
        "| Measurement | Figure |",
        "|---|---|",
        f"| compute only (batches already in memory) | {ips(results, 'compute_only')} |",
        f"| starter pipeline (as the scripts use it) | {ips(results, 'starter')} |",
        f"| starter pipeline, augmentation not compiled with XLA (before) | {ips(results, 'starter_without_xla')} |",
        f"| video's pipeline (float32 cache, augmented image by image) | {ips(results, 'video')} |",
        f"| starter pipeline alone, feeding no model, autotuner off (its own cost) | {ips(results, 'starter_alone')} |",
        f"| video's pipeline alone, feeding no model, autotuner off | {ips(results, 'video_alone')} |",
        f"| train step compiled with XLA (batches already in memory) | {ips(results, 'xla')} |",
        f"| starter / compute only ({met(results, 'starter_over_compute')}) "
        f"| {ratio(results, 'starter_over_compute')} |",
        f"| starter, augmentation not compiled with XLA (before) / compute only "
        f"| {ratio(results, 'starter_without_xla_over_compute')} |",
        f"| starter / video's, pipelines alone ({met(results, 'starter_over_video')}) "
        f"| {ratio(results, 'starter_over_video', 2)} |",
        f"| starter / video's, training | {ratio(results, 'starter_over_video_training')} |",
        f"| XLA / plain train step | {ratio(results, 'xla_over_plain')} |",
        f"| training cache of {cache_images:,} images, starter (uint8) | {cache_mb(caches['starter'])} |",
        f"| training cache of {cache_images:,} images, video's (float32) | {cache_mb(caches['video'])} |",
        f"| starter's cache / video's ({met(results, 'train_cache_over_video')}) "
        f"| {results['train_cache_over_video']:.5f} |",
        f"| epoch without summaries (train + evaluate the test split, from the rounds' rates) "
        f"| {results['epoch_seconds']['none']:.1f} s ({epoch_first:.1f}-{epoch_third:.1f} s) |",
        f"| per-batch scalars (02's way) / no summaries ({met(results, 'scalars_per_batch')}) "
        f"| {overhead(results, 'scalars_per_batch')} |",
        f"| per-epoch histograms of all weights / no summaries | {overhead(results, 'histograms_per_epoch')} |",
        f"| per-epoch confusion-matrix image (04's way) / no summaries "
        f"| {overhead(results, 'confusion_matrix_per_epoch')} |",
    ]
    return "\n".join(rows)


def results_page(results, previous):
    """RESULTS.md: how the figures were made, the table, and this run's ratios next to the previous run's."""
    info, data = results["machine"], results["data"]
    command = "python bench/pipeline_bench.py" + (" --quick" if data["quick"] else "")
    lines = [
        "# Input pipeline, cache memory and logging benchmark",
        "",
        f"Made by `{command}` on {info['cores']} cores ({info['device']}, {info['processor']}), TensorFlow "
        f"{info['tensorflow']}: {data['train']:,} training and {data['test']:,} test images ({data['name']}), "
        f"batch size {data['batch_size']}. {results['rounds']} paired rounds, after an untimed one: each round "
        f"trains every variant on {data['train_batches']} batches (after {data['warm_up_batches']} untimed "
        f"ones), evaluates {data['test_batches']} test batches and reads a whole epoch through each pipeline alone "
        "twice, mirrored (starter, video's, video's, starter; the faster read counts; tf.data's autotuner off, see "
        "`with_autotune_off` in the bench), in an order shuffled anew each round. Each figure is the "
        f"median of the rounds (a ratio: of the ratios taken within each round), the interquartile range in "
        f"brackets. The 1-minute load average before the run: {info['load_average_at_start']}; the run took "
        f"{results['total_seconds'] / 60:.1f} minutes.{stolen_sentence(results)}",
        "",
        "Each cache's memory is how much more memory a fresh process keeps once the first pass has filled it, "
        "the median of the processes measured in turns "
        "(freed memory handed back to the OS first), with images decoded from PNG one by one as "
        "tensorflow_datasets does; in brackets the bytes of the tensors it holds. "
        "A per-epoch summary's cost is its measured time added to the epoch time without summaries.",
        "",
        results_table(results),
        "",
    ]
    if previous is not None:
        lines += repeatability(results, previous)
    return "\n".join(lines)


RATIOS = (
    "starter_over_compute",
    "starter_without_xla_over_compute",
    "starter_over_video",
    "starter_over_video_training",
    "xla_over_plain",
    "train_cache_over_video",
)


# How close two runs' ratios must lie to count as repeatable: 0.05, but the caches' ratio, whose target (a quarter)
# is the ratio of the bytes the caches hold, within 0.01.
REPEATABLE_WITHIN, CACHE_REPEATABLE_WITHIN = 0.05, 0.01


def ratios_of(results):
    return {
        **{key: results[key] for key in RATIOS},
        **{f"logging_overhead.{key}": results["logging_overhead"][key] for key in LOGGING},
    }


def repeatability(results, previous):
    """RESULTS.md's notes: each ratio of this run next to the previous run's (same settings), and the difference."""
    lines = [
        "## Notes: this run against the previous one",
        "",
        f"The previous run with the same settings (load average {previous['machine']['load_average_at_start']} "
        f"at its start, {previous['total_seconds'] / 60:.1f} minutes). A ratio is repeatable here when the two "
        f"runs lie within {REPEATABLE_WITHIN} of each other; the caches' ratio, whose target is the ratio of the "
        f"bytes they hold, within {CACHE_REPEATABLE_WITHIN}.",
        "",
        "| Ratio | This run | Previous run | Difference (share of the previous run's) |",
        "|---|---|---|---|",
    ]
    earlier = ratios_of(previous)
    for key, value in ratios_of(results).items():
        difference = value - earlier[key]
        is_cache = key == "train_cache_over_video"
        tolerance = CACHE_REPEATABLE_WITHIN if is_cache else REPEATABLE_WITHIN
        verdict = "" if abs(difference) <= tolerance else f" (more than {tolerance})"
        # The caches' ratio with 5 decimals, as in the table: its runs differ in the fourth.
        digits = 5 if is_cache else 3
        # A difference that rounds to nothing has no sign.
        shown = f"{difference:+.{digits}f}".replace(f"-0.{'0' * digits}", f"+0.{'0' * digits}")
        relative = f"{difference / earlier[key]:+.1%}".replace("-0.0%", "+0.0%")
        lines.append(f"| {key} | {value:.{digits}f} | {earlier[key]:.{digits}f} | {shown} ({relative}){verdict} |")
    return [*lines, ""]


def previous_results(path, data):
    """The previous run's results.json in the output directory, if it was made with the same settings."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
        same = previous.get("data") == data and "rounds" in previous
    except (OSError, ValueError, AttributeError):
        return None
    return previous if same else None
