"""Paired rounds: every variant once a round, in an order shuffled anew each round, and the medians of the
per-round rates and ratios, with the CPU time the hypervisor took (steal time) counted in each round.

This machine's speed drifts, so a variant timed in one minute and another in the next would compare the minutes,
not the variants: a ratio is taken within each round, and its figure is the median of the rounds (bench/README.md).
"""

import os
import random
import statistics
import time
from pathlib import Path

import tensorflow as tf

from variants import make_loop, make_variants, start_iterators

# The two pipelines read alone, feeding no model: twice a round each (see round_order).
ALONE = ("starter_alone", "video_alone")


def stolen_cpu_seconds():
    """CPU seconds the hypervisor has given to other machines since boot (all cores), or None off Linux.

    On a virtual machine, a core that is ready to run can wait for the host: Linux counts that wait as steal
    time (the "st" of `top`), in the eighth figure of /proc/stat's "cpu" line, in clock ticks.
    """
    try:
        with open("/proc/stat") as stat:
            return int(stat.readline().split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def timed_run(variant):
    """(seconds, images, CPU seconds stolen meanwhile, or None) of one run of a variant."""
    stolen_before, started = stolen_cpu_seconds(), time.perf_counter()
    images = variant()
    seconds, stolen_after = time.perf_counter() - started, stolen_cpu_seconds()
    stolen = None if stolen_before is None or stolen_after is None else stolen_after - stolen_before
    return seconds, images, stolen


def round_order(names, number):
    """The order of round `number`: the variants shuffled anew each round, the pipelines alone read twice, mirrored.

    Shuffled (with the round's number as the seed, so a run can be repeated), no variant always runs first, after
    the others' pauses, or right after the same neighbour. The confusion matrix needs the predictions of the
    round's `evaluate`, so it runs right after it. Each pipeline alone is read twice in a row of four, mirrored
    (starter, video's, video's, starter; the next round the other way round), so neither is always read first,
    and the faster read, the one that counts, leaves out a slow-down that hit only the other read.
    """
    first, second = ALONE if number % 2 == 0 else ALONE[::-1]
    together = {"evaluate": ["evaluate", "confusion_matrix_per_epoch"], first: [first, second, second, first]}
    units = [together.get(name, [name]) for name in names if name not in ("confusion_matrix_per_epoch", second)]
    random.Random(number).shuffle(units)
    return [name for unit in units for name in unit]


def paired_rounds(variants, warm_ups, rounds, first_round=0):
    """Runs every variant in turns, round after round; returns {name: [[(seconds, images, stolen), ...] a round]}.

    A variant with a warm-up runs it right before, untimed. Everything is traced and compiled beforehand (round 0
    of `measure`, untimed).
    """
    timed = {name: [] for name in variants}
    for number in range(first_round, first_round + rounds):
        runs = {name: [] for name in variants}
        for name in round_order(list(variants), number):
            if name in warm_ups:
                warm_ups[name]()
            runs[name].append(timed_run(variants[name]))
        for name, these in runs.items():
            timed[name].append(these)
    return timed


def per_round_figures(timed, dataset):
    """Every figure of every round: rates (images/s), and ratios of two variants measured in the same round.

    A pipeline alone is read twice a round; its rate for the round is the faster read's, the one the machine
    interrupted least (see `round_order`).
    """
    rate = {
        name: [max(images / seconds for seconds, images, _ in runs) for runs in rounds]
        for name, rounds in timed.items()
        if rounds[0][0][1]
    }
    summary_seconds = {name: [runs[0][0] for runs in timed[name]] for name in SUMMARIES_PER_EPOCH}
    figures = {f"{name}_ips": rate[name] for name in RATE_ROWS}
    for name in ALONE:
        figures[f"{name}_reads_ips"] = [[images / seconds for seconds, images, _ in runs] for runs in timed[name]]
    figures["stolen_share"] = [stolen_share(timed, number) for number in range(len(timed["evaluate"]))]

    def ratio(numerator, denominator):
        return [top / bottom for top, bottom in zip(numerator, denominator, strict=True)]

    figures["starter_over_compute"] = ratio(rate["starter"], rate["compute_only"])
    figures["starter_without_xla_over_compute"] = ratio(rate["starter_without_xla"], rate["compute_only"])
    figures["starter_over_video"] = ratio(rate["starter_alone"], rate["video_alone"])
    figures["starter_over_video_training"] = ratio(rate["starter"], rate["video"])
    figures["xla_over_plain"] = ratio(rate["xla"], rate["compute_only"])
    # An epoch without summaries: the whole training split at the round's starter rate, then the test split.
    epoch = [
        dataset.num_train / train + dataset.num_test / test
        for train, test in zip(rate["starter"], rate["evaluate"], strict=True)
    ]
    figures["epoch_seconds_none"] = epoch
    # The same images with a scalar per batch take longer by the ratio of the two rates.
    figures["scalars_per_batch"] = ratio(rate["starter"], rate["scalars_per_batch"])
    for name, seconds in summary_seconds.items():
        figures[f"{name}_seconds"] = seconds
        figures[name] = [(whole + extra) / whole for whole, extra in zip(epoch, seconds, strict=True)]
    return figures


def stolen_share(timed, number):
    """The share of the CPU time of round `number` that the hypervisor gave to other machines (None off Linux)."""
    runs = [run for rounds in timed.values() for run in rounds[number]]
    if any(stolen is None for _, _, stolen in runs):
        return None
    return sum(stolen for _, _, stolen in runs) / (sum(seconds for seconds, _, _ in runs) * (os.cpu_count() or 1))


RATE_ROWS = (
    "compute_only",
    "starter",
    "starter_without_xla",
    "video",
    "starter_alone",
    "video_alone",
    "xla",
    "evaluate",
)
SUMMARIES_PER_EPOCH = ("histograms_per_epoch", "confusion_matrix_per_epoch")
LOGGING = ("scalars_per_batch", *SUMMARIES_PER_EPOCH)


def stolen_note(share):
    """The round's steal time for its progress line, e.g. ', CPU stolen 1.2%' (nothing off Linux)."""
    return "" if share is None else f", CPU stolen {share:.1%}"


def median_and_quartiles(values):
    """(median, first quartile, third quartile) of the rounds' values."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    first, median, third = statistics.quantiles(values, n=4, method="inclusive")
    return median, first, third


def measure(dataset, args, sizes, scratch_dir):
    """The paired rounds and their medians: results.json's rates, ratios and logging overheads."""
    loop = make_loop(dataset)
    pipelines_alone, iterators = start_iterators(dataset, args.batch_size)
    writers = {name: tf.summary.create_file_writer(str(Path(scratch_dir) / name)) for name in LOGGING}
    variants, warm_ups = make_variants(dataset, loop, pipelines_alone, iterators, sizes, writers)
    # Round 0 traces every step, compiles the XLA one, and warms up the summary ops and matplotlib: not timed.
    paired_rounds(variants, warm_ups, 1)
    started = time.perf_counter()
    timed = {name: [] for name in variants}
    for number in range(1, args.rounds + 1):
        for name, runs in paired_rounds(variants, warm_ups, 1, first_round=number).items():
            timed[name].extend(runs)
        figures = per_round_figures(timed, dataset)
        print(
            f"  round {number}/{args.rounds}: starter / compute only {figures['starter_over_compute'][-1]:.3f} "
            f"(augmentation not compiled: {figures['starter_without_xla_over_compute'][-1]:.3f}), "
            f"starter / video's alone {figures['starter_over_video'][-1]:.2f}, "
            f"XLA / plain {figures['xla_over_plain'][-1]:.3f}{stolen_note(figures['stolen_share'][-1])} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    for writer in writers.values():
        writer.close()
    results = {"per_round": figures, "interquartile": {}}
    for key, values in figures.items():
        if key.endswith("_reads_ips"):
            continue  # Both reads of each round stay in per_round; the figures use the faster one.
        if None in values:
            results[key], results["interquartile"][key] = None, None  # Steal time is not counted off Linux.
            continue
        median, first, third = median_and_quartiles(values)
        results["interquartile"][key] = [first, third]
        if key in LOGGING:
            results.setdefault("logging_overhead", {})[key] = median
        elif key == "epoch_seconds_none":
            results["epoch_seconds"] = {"none": median}
        elif key.endswith("_seconds"):
            results.setdefault("summary_seconds", {})[key.removesuffix("_seconds")] = median
        else:
            results[key] = median
    return results
