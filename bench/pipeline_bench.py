"""
Title: Does the input pipeline keep the model fed, how much memory does its cache take, what does logging cost?
Description: The starter's CNN trained on data already in memory, fed by the starter's pipeline and by the
video's, each pipeline's own rate feeding no model, the same step compiled with XLA, the memory of each training
cache, and the cost of each kind of TensorBoard logging, measured side by side in one process, in paired rounds.

Install:  pip install -r requirements.txt -c constraints.txt   (the exact versions CI tests with)
Run it:   python bench/pipeline_bench.py            (CIFAR-10-shaped data made in memory: runs offline)
          python bench/pipeline_bench.py --quick    (a small subset and 3 short rounds: a smoke test)
          python bench/pipeline_bench.py --dataset cifar10   (real data, where it is cached or downloadable)
Writes:   bench/RESULTS.md (a table) and bench/results.json (the same figures), or into --output-dir.
Time on a 2-core CPU: 8 to 13 minutes, by the host's speed (results.json records each section's seconds). Run it
on an otherwise idle machine: a second busy process halves the rates and can turn the ratios around.

How it measures: paired rounds. This machine's speed drifts (it runs a whole epoch at one of two speeds, minutes
apart), so a variant timed in one minute and another in the next compares the minutes, not the variants. Each
round therefore runs every variant once, on a slice of the data that takes seconds, one after the other (the
order is shuffled anew each round, and each training slice starts with a few untimed batches, see
`make_variants`); a ratio is computed within each round, and the figure reported is the median
of the per-round ratios, with their interquartile range. Each pipeline keeps one iterator for the whole run (over
`.repeat()`), so a slice costs what the same images cost inside a real epoch: the shuffle buffer refills at an
epoch's end, not at every slice. A pipeline alone (feeding no model) reads a whole epoch, twice a round and
mirrored (starter, video's, video's, starter), with tf.data's autotuner off (see `with_autotune_off`); the faster
of the two reads is the round's. Rates are reported the same way: the median of the rounds and their
interquartile range.

Part of the drift is the host's: on a virtual machine, the hypervisor now and then hands this machine's cores to
other machines (steal time, the "st" of `top`). The bench counts it in every round, from /proc/stat, reports the
share of CPU time it took, and warns when a median round lost more than 2%. It hurts the video's pipeline read
alone most (its threads hand over every image): in a run already reading each pipeline alone twice a round (see
`round_order`), where the hypervisor took up to 23.5% of a round, the
ratio of the pipelines alone was 3.1 to 4.2 in the three rounds that lost more than 12%, and a median of 2.5 in
the other seventeen. The faster of two reads trims a burst that hits one read; the median of the rounds keeps out
the rounds a longer one hit.

What results.json's figures mean:
- `compute_only_ips`, `starter_ips`, `video_ips`, `xla_ips`: images per second of the train step fed from batches
  already in memory, by the starter's pipeline, by the video's, and (in memory) compiled with XLA;
  `starter_without_xla_ips`: fed by the starter's pipeline with its augmentation run op by op, not compiled with
  XLA (as it was before; see `starter.batch_normalizer_and_augmenter`);
  `starter_alone_ips`, `video_alone_ips`: each pipeline's own rate, feeding no model, autotuner off (the faster
  of the round's two reads; `per_round` keeps both, as `starter_alone_reads_ips` and `video_alone_reads_ips`).
- `starter_over_compute`: the median per-round ratio starter / compute only (target: at least 0.95, the starter
  keeps the model fed); `starter_without_xla_over_compute`: the same without XLA (the figure before the
  starter compiled its augmentation); `starter_over_video`: starter / video's, pipelines alone (target: at least 1.5);
  `starter_over_video_training`: the same, feeding the model; `xla_over_plain`: the XLA-compiled train step over
  the plain one, same model, data in memory.
- `train_cache_mb`, `video_train_cache_mb`: how much more memory a fresh process keeps once the first pass has
  filled the starter's (uint8) and the video's (float32) training cache of 50,000 PNG-decoded images, freed
  memory handed back to the OS first; the median of 3 processes each (target: the starter's at most a quarter of
  the video's, `train_cache_over_video`).
- `logging_overhead`: an epoch with each kind of logging over an epoch without any, median per round.
  `scalars_per_batch` is paired directly (the same slice of batches with and without a scalar per batch); a
  per-epoch summary (`histograms_per_epoch`, `confusion_matrix_per_epoch`) is written once per round and its
  cost added to the round's epoch time without summaries (`epoch_seconds["none"]`: the round's train and test
  rates scaled to the whole splits).
- `stolen_share`: the share of the CPU time the hypervisor gave to other machines in a round (steal time), the
  median of the rounds; null where /proc/stat is missing.
- `rounds`: how many paired rounds; `total_seconds`: the whole run; `seconds`: each section's; `per_round` and
  `interquartile`: every round's figures and each figure's range.
"""

import argparse
import concurrent.futures
import ctypes
import functools
import gc
import itertools
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ctrl_c  # noqa: E402  (first, before TensorFlow: see ctrl_c.py)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import plumbing  # noqa: E402
import starter  # noqa: E402
import utils  # noqa: E402

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
# --quick is a smoke test: small splits, but a cache large enough that its growth stands out of the noise.
QUICK_TRAIN_IMAGES, QUICK_TEST_IMAGES, QUICK_CACHE_IMAGES = 512, 256, 2_048
# Each cache is measured in this many fresh processes (about 20 s each for 50,000 images); its figure is the median.
CACHE_PROCESSES, QUICK_CACHE_PROCESSES = 3, 1
# A round trains each variant on TRAIN_BATCHES batches (1 to 3 s on a 2-core CPU), evaluates TEST_BATCHES test
# batches, and reads a whole epoch through each pipeline feeding no model, twice (0.3 to 5 s a read): 20 rounds
# take 5.5 minutes on a fast day, up to about 11 on a slow one. A median of 15 or more rounds ignores the odd round
# that fell into a slow minute. With 20 batches a slice, the per-round ratio starter / compute only spread 0.12
# between its quartiles; with 30, 0.03-0.06 on quiet days, 0.11-0.16 on a busier one.
ROUNDS, TRAIN_BATCHES, TEST_BATCHES = 20, 30, 20
QUICK_ROUNDS, QUICK_TRAIN_BATCHES, QUICK_TEST_BATCHES = 3, 2, 2
# Each training slice starts with this many untimed batches (see make_variants), meant to use up the batches its
# pipeline read ahead while other variants ran (its prefetch buffer), which its timer would not see.
WARM_UP_BATCHES, QUICK_WARM_UP_BATCHES = 5, 1
# Above this share of CPU time taken by the hypervisor (steal time) in a median round, the bench warns.
STOLEN_SHARE_WARNING = 0.02
# The cache-memory probe decodes PNGs of this many distinct images, over and over (see png_cifar10_train).
DISTINCT_PNG_IMAGES = 1_000
AUTOTUNE = tf.data.AUTOTUNE
MB = 1e6
# The two pipelines read alone, feeding no model: twice a round each (see round_order).
ALONE = ("starter_alone", "video_alone")
# The ratios whose targets the issue set, and how each compares: (key, target, "at least" or "at most").
TARGETS = (
    ("starter_over_compute", 0.95, "at least"),
    ("starter_over_video", 1.5, "at least"),
    ("train_cache_over_video", 0.25, "at most"),
)


def synthetic_cifar10(num_train, num_test, seed=0):
    """CIFAR-10-shaped random data (uint8 32x32x3 images, 10 classes) made in memory, so it runs offline."""
    rng = np.random.default_rng(seed)

    def split(count):
        images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, count).astype(np.int64)
        return tf.data.Dataset.from_tensor_slices((images, labels))

    # Named "cifar10" so that the pipelines augment it exactly as they augment CIFAR-10.
    return starter.Dataset(
        "cifar10", split(num_train), split(num_test), starter.CIFAR10_CLASS_NAMES, (32, 32, 3), num_train, num_test
    )


def load_benchmark_data(args):
    if args.dataset == "synthetic":
        sizes = (QUICK_TRAIN_IMAGES, QUICK_TEST_IMAGES) if args.quick else (TRAIN_IMAGES, TEST_IMAGES)
        return synthetic_cifar10(*sizes)
    return starter.load_dataset(args.dataset, quick=args.quick, verbose=False)


# ---------------------------------------------------------------------------------------------------
# The two training pipelines a user would compare
# ---------------------------------------------------------------------------------------------------


def video_train_pipeline(dataset, batch_size):
    """The video's training pipeline: normalize, cache, shuffle, augment image by image, batch, prefetch.

    Its cache holds float32 images (four times the bytes of uint8 ones), and its augmentation (10% grayscale,
    brightness, flips) runs once per image. Both maps run in parallel, the most generous reading of the
    video. The lessons use `starter.train_pipeline`; this one exists only to be compared with it.
    """
    augment = starter.make_augment(dataset.channels, dataset.flip)
    return (
        dataset.train.map(starter.normalize, num_parallel_calls=AUTOTUNE)
        .cache()
        .shuffle(min(starter.SHUFFLE_BUFFER, dataset.num_train))
        .map(augment, num_parallel_calls=AUTOTUNE)
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )


PIPELINES = {"starter": starter.train_pipeline, "video": video_train_pipeline}
# The starter's pipeline with its augmentation run op by op, as it was before it was compiled with XLA: trained
# from in the same rounds, it shows what the compilation gains (see `starter.batch_normalizer_and_augmenter`).
STARTER_WITHOUT_XLA = functools.partial(starter.train_pipeline, jit_compile=False)


def with_autotune_off(pipeline):
    """The same pipeline with tf.data's autotuner off: how its own cost is measured, feeding no model.

    With the autotuner on, a fresh iterator that reads as fast as it can sometimes runs a whole epoch at a rate
    about 40% lower, always the same lower rate. In a separate experiment on this machine, 8 epochs of each
    pipeline at a time, the starter's ran at 19,400 instead of about 31,000 images/s in 1 to 4 epochs of 8, the
    video's at 9,770 instead of 15,500 in 1 to 4. Which epochs do is chance, so the per-round ratio of the two
    pipelines swung widely (1.11-1.99 between quartiles in an earlier run) rather than measuring their work.
    Off, each AUTOTUNE map keeps the autotuner's starting parallelism (one call per core, 16 at most) and no
    epoch fell to the lower rate (8 of 8, both pipelines). Training is measured with the autotuner on, as the
    scripts run: there the step is many times slower than either pipeline, and what a pipeline costs it is the
    CPU the pipeline takes from the step.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.with_options(options)


# ---------------------------------------------------------------------------------------------------
# The memory of the training cache
# ---------------------------------------------------------------------------------------------------


def resident_bytes():
    """This process's resident memory (RSS) in bytes, from Linux's /proc; None elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def png_cifar10_train(count, seed=0):
    """`count` CIFAR-10-shaped training examples decoded from PNG one by one, as tensorflow_datasets does.

    Each decoded image is a tensor of its own, as with the real CIFAR-10. (Slices of an in-memory array,
    as in `synthetic_cifar10`, share the array's memory, so a cache of them would cost almost nothing.)
    """
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (DISTINCT_PNG_IMAGES, 32, 32, 3), dtype=np.uint8)
    pngs = [tf.io.encode_png(image).numpy() for image in images]
    labels = rng.integers(0, 10, DISTINCT_PNG_IMAGES).astype(np.int64)
    return (
        tf.data.Dataset.from_tensor_slices((pngs, labels))
        .repeat()
        .take(count)
        .map(lambda png, label: (tf.io.decode_png(png, channels=3), label), num_parallel_calls=AUTOTUNE)
    )


def release_freed_memory():
    """Hands memory that Python and TensorFlow have freed back to the OS, so that RSS counts only what is kept.

    glibc's malloc keeps freed blocks for reuse, so without this a pass's transient buffers (the shuffle buffer,
    prefetched batches) would count as the cache's, a different amount each run. Linux with glibc only: elsewhere
    it does nothing, and the figure includes the freed memory the allocator kept.
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cache_growth(pipeline_name, count, batch_size):
    """Runs in a fresh process: how much more memory it keeps once the first pass has filled the pipeline's cache.

    A warm-up pass over a small dataset first starts tf.data's threads and traces its functions; a second
    full pass afterwards shows how much the process grows when no cache is being filled (the noise). The warm-up
    ends with a batch of the same size as the measured pass's last one, so the starter's XLA compilations (one per
    batch shape, shared by every pipeline in the process) all happen before the measurement: each keeps some
    7 to 10 MB, which are not the cache's (when the measured pass compiled both of its batch shapes itself, the
    starter's cache measured 185 to 197 MB in 6 processes; 172 and 176 MB with this warm-up, in a probe).
    Counting what the pass had freed too, the starter's cache of 50,000 images measured 172, 195 and 230 MB in
    three runs; with the freed memory handed back, between 170 and 177 MB in every process of two runs.
    """
    make_pipeline = PIPELINES[pipeline_name]

    def pipeline(images):
        dataset = starter.Dataset(
            "cifar10", png_cifar10_train(images), None, starter.CIFAR10_CLASS_NAMES, (32, 32, 3), images, 0
        )
        return make_pipeline(dataset, batch_size)

    full_batches = min(count, DISTINCT_PNG_IMAGES) // batch_size
    read_through(pipeline(full_batches * batch_size + count % batch_size))
    batches = pipeline(count)
    release_freed_memory()
    before = resident_bytes()
    if before is None:
        return None
    read_through(batches)
    release_freed_memory()
    filled = resident_bytes()
    read_through(batches)
    release_freed_memory()
    return {"mb": (filled - before) / MB, "second_pass_mb": (resident_bytes() - filled) / MB}


def payload_mb(pipeline_name, count):
    """The bytes of the tensors a cache of `count` examples holds: 32x32x3 images and int64 labels.

    The starter caches uint8 images (1 byte a pixel), the video float32 ones (4 bytes a pixel).
    """
    image_bytes = 32 * 32 * 3 * (1 if pipeline_name == "starter" else 4)
    label_bytes = 8
    return count * (image_bytes + label_bytes) / MB


def cache_memory(count, batch_size, processes):
    """The memory of each pipeline's training cache for `count` CIFAR-10-shaped images: the median of `processes`.

    Measured, not computed: each pipeline fills its cache in a fresh process, whose RSS growth, once the pass's
    freed memory is handed back, is what the cache costs (its tensors, the cache's bookkeeping per image, and the
    allocator's fragmentation). tf.data reports no memory for a cache, and TensorFlow keeps no allocator
    statistics on a CPU. One process's figure still varies by some 10 MB (threads' memory, the allocator's
    leftovers), so each pipeline is measured in several processes, in turns, and the median is its figure.
    """
    results = {
        "images": count,
        "method": "RSS growth of a fresh process kept after the first pass filled the cache (freed memory released)",
    }
    growths = {name: [] for name in PIPELINES}
    context = multiprocessing.get_context("spawn")
    for _ in range(processes):
        for name in PIPELINES:
            # A fresh process each, so no measurement reuses memory another (or the benchmark) freed.
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as process:
                growth = process.submit(cache_growth, name, count, batch_size).result()
            if growth is None:
                plumbing.fail("measuring the cache's memory needs Linux's /proc/self/statm")
            growths[name].append(growth)
    for name, runs in growths.items():
        results[name] = {
            "mb": statistics.median(run["mb"] for run in runs),
            "runs_mb": [run["mb"] for run in runs],
            "second_pass_mb": statistics.median(run["second_pass_mb"] for run in runs),
            "payload_mb": payload_mb(name, count),
        }
        print(f"  {name:>19}: {cache_mb(results[name])}", flush=True)
    return results


# ---------------------------------------------------------------------------------------------------
# Paired rounds: training rates, XLA, and the cost of logging
# ---------------------------------------------------------------------------------------------------


def make_loop(dataset):
    """The starter's CNN with Adam, its compiled train and test steps, and the same train step compiled with XLA.

    The XLA step is the starter's own train step (`python_function` is the Python code `tf.function` traced),
    compiled with `jit_compile=True`: same model, same optimizer, same metrics, so only the compiler differs.
    """
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    steps = starter.make_steps(model, optimizer)
    xla_train_step = tf.function(
        steps.train_step.python_function, input_signature=starter.batch_signature(model), jit_compile=True
    )
    return types.SimpleNamespace(
        model=model,
        optimizer=optimizer,
        train_step=steps.train_step,
        xla_train_step=xla_train_step,
        test_step=steps.test_step,
    )


def train_over(train_step, batches, on_batch=None):
    """Runs `train_step` over every batch, waits for the last step to finish; returns how many images it saw.

    `on_batch(loss)`, if given, runs after each step: that is where a custom loop writes its per-batch summary.
    """
    seen, loss = 0, None
    for images, labels in batches:
        loss = train_step(images, labels)
        if on_batch is not None:
            on_batch(loss)
        seen += int(labels.shape[0])
    float(loss)
    return seen


def read_through(batches):
    """Reads every batch and feeds no model (the pipeline's own rate); returns how many images it read."""
    return sum(int(labels.shape[0]) for _, labels in batches)


def batches_per_epoch(num_examples, batch_size):
    return -(-num_examples // batch_size)


def start_iterators(dataset, batch_size):
    """({name: the pipeline to read alone}, {name: one iterator for the whole run, to train from}).

    Each training iterator runs over `.repeat()` and its cache is filled by an untimed epoch. Slices taken from a
    long-lived iterator cost what the same images cost inside an epoch: a fresh iterator per slice would refill
    the 10,000-image shuffle buffer every time, which an epoch does once.
    """

    def long_lived(pipeline, num_examples):
        iterator = iter(pipeline.repeat())
        read_through(itertools.islice(iterator, batches_per_epoch(num_examples, batch_size)))
        return iterator

    pipelines_alone, iterators = {}, {}
    for name, make_pipeline in PIPELINES.items():
        pipeline = make_pipeline(dataset, batch_size)
        iterators[name] = long_lived(pipeline, dataset.num_train)
        pipelines_alone[name] = with_autotune_off(pipeline)
    iterators["starter_without_xla"] = long_lived(STARTER_WITHOUT_XLA(dataset, batch_size), dataset.num_train)
    iterators["test"] = long_lived(starter.test_pipeline(dataset, batch_size), dataset.num_test)
    return pipelines_alone, iterators


def make_variants(dataset, loop, pipelines_alone, iterators, sizes, writers):
    """({name: a function that runs one variant once, returns how many images it handled (None: one summary)},
    {name: the untimed warm-up that runs right before it, for the variants that train}).

    Every variant trains the same model; since its weights change from slice to slice, whichever way it is fed,
    no variant gets an easier model than another. A training slice starts with a few untimed batches, meant to
    bring its timed batches closer to how they run inside an epoch: they use up batches its pipeline read ahead
    while other variants ran, and give the previous variant's pipeline time to finish refilling its buffers.
    (How much that changes the figures was not measured: the rounds' spread hides it.)
    """
    # The limit: batches already augmented and held in memory, so the step never waits for input.
    in_memory = list(itertools.islice(iterators["starter"], sizes.train_batches))

    def next_slice(name, count):
        return itertools.islice(iterators[name], count)

    def fed_by(name):
        """Training on `count` batches from the long-lived iterator `name`."""
        return lambda count: train_over(loop.train_step, next_slice(name, count))

    def scalar_per_batch(loss):
        # 02's way: the loss of every batch at a global step.
        with writers["scalars_per_batch"].as_default():
            tf.summary.scalar("batch_loss", loss, step=loop.optimizer.iterations)

    evaluated = {}

    def evaluate():
        evaluated["labels"], evaluated["probabilities"] = starter.evaluate(
            loop.test_step, next_slice("test", sizes.test_batches)
        )
        return len(evaluated["labels"])

    epochs = itertools.count()

    def histograms():
        with writers["histograms_per_epoch"].as_default():
            step = next(epochs)
            for weight in loop.model.weights:
                tf.summary.histogram(weight.path, weight, step=step)
        writers["histograms_per_epoch"].flush()

    def confusion_matrix():
        # 04's way: count, plot, render and log the matrix of the held-out images the round evaluated.
        predicted = evaluated["probabilities"].argmax(axis=1)
        counts = utils.get_confusion_matrix(evaluated["labels"], predicted, len(dataset.class_names))
        figure = utils.plot_confusion_matrix(counts, dataset.class_names)
        with writers["confusion_matrix_per_epoch"].as_default():
            tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=next(epochs))
        writers["confusion_matrix_per_epoch"].flush()

    def scalars(count):
        seen = train_over(loop.train_step, next_slice("starter", count), scalar_per_batch)
        writers["scalars_per_batch"].flush()
        return seen

    # The variants that train, each on `count` batches: timed on a slice, and untimed on a few as its warm-up.
    training = {
        "compute_only": lambda count: train_over(loop.train_step, in_memory[:count]),
        "xla": lambda count: train_over(loop.xla_train_step, in_memory[:count]),
        "starter": fed_by("starter"),
        "video": fed_by("video"),
        "scalars_per_batch": scalars,
        "starter_without_xla": fed_by("starter_without_xla"),
    }
    warm_ups = {name: functools.partial(train, sizes.warm_up_batches) for name, train in training.items()}
    slices = {name: functools.partial(train, sizes.train_batches) for name, train in training.items()}
    # round_order shuffles the variants in this dict's order, with a fixed seed a round: reordering it (or adding
    # a variant) changes every round's order.
    variants = {
        "compute_only": slices["compute_only"],
        "xla": slices["xla"],
        "starter": slices["starter"],
        "video": slices["video"],
        # Alone, a pipeline has the cores to itself; feeding the model, on a CPU, it shares them with the step.
        # A whole epoch from a fresh iterator (its cache is filled): read from the long-lived iterators, whose
        # prefetch buffers autotune grows and then fills between slices, it would be read ahead of time, and
        # refill while the next variant trains.
        "starter_alone": lambda: read_through(pipelines_alone["starter"]),
        "video_alone": lambda: read_through(pipelines_alone["video"]),
        "scalars_per_batch": slices["scalars_per_batch"],
        "evaluate": evaluate,
        "histograms_per_epoch": histograms,
        # The confusion matrix comes right after "evaluate" in every round (see round_order).
        "confusion_matrix_per_epoch": confusion_matrix,
        "starter_without_xla": slices["starter_without_xla"],
    }
    return variants, warm_ups


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


# ---------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------


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
    """A cache's measured memory, the range of its processes and its tensors' bytes, from `cache_memory`'s entry.

    For example '163.2 MB (160.1-174.1 MB in 3 processes; 154.0 MB of tensors)'.
    """
    runs = cache["runs_mb"]
    spread = f"{min(runs):,.1f}-{max(runs):,.1f} MB in {len(runs)} processes; " if len(runs) > 1 else ""
    return f"{cache['mb']:,.1f} MB ({spread}{cache['payload_mb']:,.1f} MB of tensors)"


def met(results, key):
    """'met' or 'NOT met': whether a figure reaches the target TARGETS sets for it."""
    target, direction = next((target, direction) for name, target, direction in TARGETS if name == key)
    reached = results[key] >= target if direction == "at least" else results[key] <= target
    return f"target: {direction} {target}, {'met' if reached else 'NOT met'}"


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
        f"| per-batch scalars (02's way) / no summaries | {overhead(results, 'scalars_per_batch')} |",
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


def make_parser():
    parser = argparse.ArgumentParser(
        description="Benchmark the input pipelines, the memory of their caches and the cost of logging."
    )
    parser.add_argument(
        "--dataset",
        choices=["synthetic", *plumbing.DATASETS[1:]],
        default="synthetic",
        help="synthetic: CIFAR-10-shaped data made in memory (default, offline)",
    )
    parser.add_argument("--batch-size", type=plumbing.positive_int, default=64)
    parser.add_argument("--rounds", type=plumbing.positive_int, default=None, help=f"paired rounds (default: {ROUNDS})")
    parser.add_argument("--quick", action="store_true", help=f"a small subset and {QUICK_ROUNDS} short rounds")
    parser.add_argument("--output-dir", default=str(ROOT / "bench"), help="where RESULTS.md and results.json go")
    return parser


def main(argv=None):
    args = make_parser().parse_args(argv)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    sizes = types.SimpleNamespace(
        train_batches=QUICK_TRAIN_BATCHES if args.quick else TRAIN_BATCHES,
        test_batches=QUICK_TEST_BATCHES if args.quick else TEST_BATCHES,
        warm_up_batches=QUICK_WARM_UP_BATCHES if args.quick else WARM_UP_BATCHES,
    )
    output_dir = Path(args.output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        plumbing.fail(f"cannot write to --output-dir {args.output_dir!r}: {error.strerror or error}")

    started = time.perf_counter()
    load_at_start = warn_if_busy()
    plumbing.configure_gpu()
    dataset = load_benchmark_data(args)
    print(f"Data: {dataset.num_train} train and {dataset.num_test} test images of {dataset.image_shape}")
    took = {}

    print(f"Paired rounds (each variant once a round, in turns; {args.rounds} rounds):", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        results = measure(dataset, args, sizes, scratch_dir)
    took["rounds"] = time.perf_counter() - started
    for name in RATE_ROWS:
        print(f"  {name:>19}: {results[f'{name}_ips']:,.0f} images/s", flush=True)
    warn_if_stolen(results)

    print("Memory of the training cache (each in fresh processes, median):", flush=True)
    cache_images = QUICK_CACHE_IMAGES if args.quick else TRAIN_IMAGES
    processes = QUICK_CACHE_PROCESSES if args.quick else CACHE_PROCESSES
    results["cache_memory"] = cache_memory(cache_images, args.batch_size, processes)
    results["train_cache_mb"] = results["cache_memory"]["starter"]["mb"]
    results["video_train_cache_mb"] = results["cache_memory"]["video"]["mb"]
    results["train_cache_over_video"] = results["train_cache_mb"] / results["video_train_cache_mb"]
    took["cache_memory"] = time.perf_counter() - started - sum(took.values())

    results["rounds"] = args.rounds
    results["total_seconds"] = time.perf_counter() - started
    results["seconds"] = {**took, "total": results["total_seconds"]}
    results["machine"] = {**machine(), "load_average_at_start": load_at_start}
    results["data"] = {
        "name": "synthetic CIFAR-10-shaped" if args.dataset == "synthetic" else dataset.name,
        "train": dataset.num_train,
        "test": dataset.num_test,
        "batch_size": args.batch_size,
        **vars(sizes),
        "quick": args.quick,
    }

    previous = previous_results(output_dir / "results.json", results["data"])
    page = results_page(results, previous)
    (output_dir / "RESULTS.md").write_text(page, encoding="utf-8")
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(page)
    print(f"Written to {output_dir / 'RESULTS.md'} and {output_dir / 'results.json'}")


if __name__ == "__main__":
    ctrl_c.run(main)
