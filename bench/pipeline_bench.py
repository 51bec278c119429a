"""
Title: Does the input pipeline keep the model fed, how much memory does its cache take, what does logging cost?
Description: Training rates with data already in memory, with the starter's pipeline and with the video's,
each pipeline's own rate feeding no model, the memory of each training cache, and the epoch time of a
custom loop with each kind of TensorBoard logging, side by side in one process.

Install:  pip install -r requirements.txt -c constraints.txt   (the exact versions CI tests with)
Run it:   python bench/pipeline_bench.py            (CIFAR-10-shaped data made in memory: runs offline)
          python bench/pipeline_bench.py --quick    (a small subset and fewer repeats: a smoke test)
          python bench/pipeline_bench.py --dataset cifar10   (real data, where it is cached or downloadable)
Writes:   bench/RESULTS.md (a table) and bench/results.json (the same figures), or into --output-dir.
Time on a 2-core CPU: see bench/RESULTS.md (results.json records each section's seconds). Run it on an
otherwise idle machine: a second busy process halves the rates and can turn the ratios around.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
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
WARM_UP_STEPS = 10
# The cache-memory probe decodes PNGs of this many distinct images, over and over (see png_cifar10_train).
DISTINCT_PNG_IMAGES = 1_000
AUTOTUNE = tf.data.AUTOTUNE
MB = 1e6


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


# ---------------------------------------------------------------------------------------------------
# Training rates
# ---------------------------------------------------------------------------------------------------


def seconds_taken(functions, repeats):
    """{name: the wall times of `repeats` calls}, the calls taken in turns (a, b, c, a, b, c, ...).

    Taking turns exposes every variant to the same drift in machine speed; measured one after the other,
    a slower minute would be blamed on whichever variant ran in it. Everything is warmed up beforehand.
    """
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return times


def make_loop(dataset):
    """The starter's CNN with Adam, and its compiled train and test steps (their metrics are not read here)."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    steps = starter.make_steps(model, optimizer)
    return types.SimpleNamespace(
        model=model, optimizer=optimizer, train_step=steps.train_step, test_step=steps.test_step
    )


def train_over(loop, batches):
    """Runs the train step over every batch and waits for the last step to finish."""
    loss = None
    for images, labels in batches:
        loss = loop.train_step(images, labels)
    float(loss)


def read_through(batches):
    """Reads every batch and feeds no model: the pipeline's own rate."""
    for _ in batches:
        pass


def training_rates(dataset, args, loop, pipelines):
    """Images per second of the same train step fed three ways, and of each pipeline feeding no model."""
    # One pass of each fills its cache; with no model to feed, that takes seconds, not an epoch of training.
    for batches in pipelines.values():
        read_through(batches)
    # The limit: batches already augmented and held in memory, so the step never waits for input.
    in_memory = list(pipelines["starter"])
    train_over(loop, in_memory[:WARM_UP_STEPS])
    for batches in pipelines.values():
        train_over(loop, batches.take(WARM_UP_STEPS))
    runs = {"compute_only": lambda: train_over(loop, in_memory)}
    runs.update({name: (lambda batches=batches: train_over(loop, batches)) for name, batches in pipelines.items()})
    # Alone, a pipeline has the cores to itself; feeding the model, on a CPU, it shares them with the step.
    runs.update(
        {f"{name}_alone": (lambda batches=batches: read_through(batches)) for name, batches in pipelines.items()}
    )
    seconds = seconds_taken(runs, args.repeats)
    rates = {f"{name}_ips": dataset.num_train / statistics.median(seconds[name]) for name in runs}
    spread = {f"{name}_ips": sorted(dataset.num_train / time for time in seconds[name]) for name in runs}
    for name in runs:
        print(f"  {name:>13}: {rates[f'{name}_ips']:,.0f} images/s", flush=True)
    rates["spread"] = spread
    return rates


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


def cache_growth(pipeline_name, count, batch_size):
    """Runs in a fresh process: how much its RSS grows while the first pass fills the pipeline's cache.

    A warm-up pass over a small dataset first starts tf.data's threads and traces its functions; a second
    full pass afterwards shows how much the process grows when no cache is being filled (the noise).
    """
    make_pipeline = PIPELINES[pipeline_name]

    def pipeline(images):
        dataset = starter.Dataset(
            "cifar10", png_cifar10_train(images), None, starter.CIFAR10_CLASS_NAMES, (32, 32, 3), images, 0
        )
        return make_pipeline(dataset, batch_size)

    read_through(pipeline(min(count, DISTINCT_PNG_IMAGES)))
    batches = pipeline(count)
    before = resident_bytes()
    if before is None:
        return None
    read_through(batches)
    filled = resident_bytes()
    read_through(batches)
    return {"mb": (filled - before) / MB, "second_pass_mb": (resident_bytes() - filled) / MB}


def payload_mb(pipeline_name, count):
    """The bytes of the tensors a cache of `count` examples holds: 32x32x3 images and int64 labels.

    The starter caches uint8 images (1 byte a pixel), the video float32 ones (4 bytes a pixel).
    """
    image_bytes = 32 * 32 * 3 * (1 if pipeline_name == "starter" else 4)
    label_bytes = 8
    return count * (image_bytes + label_bytes) / MB


def cache_memory(count, batch_size):
    """The memory of each pipeline's training cache for `count` CIFAR-10-shaped images.

    Measured, not computed: each pipeline fills its cache in a fresh process, whose RSS growth is what the
    cache costs (its tensors, the cache's bookkeeping per image, and the allocator's fragmentation). tf.data
    reports no memory for a cache, and TensorFlow keeps no allocator statistics on a CPU.
    """
    results = {"images": count, "method": "RSS growth of a fresh process while the first pass fills the cache"}
    for name in PIPELINES:
        # A fresh process each, so neither pipeline reuses memory the other (or the benchmark) freed.
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
            growth = process.submit(cache_growth, name, count, batch_size).result()
        if growth is None:
            plumbing.fail("measuring the cache's memory needs Linux's /proc/self/statm")
        results[name] = {**growth, "payload_mb": payload_mb(name, count)}
        print(f"  {name:>13}: {growth['mb']:,.1f} MB ({results[name]['payload_mb']:,.1f} MB of tensors)", flush=True)
    return results


# ---------------------------------------------------------------------------------------------------
# The cost of logging
# ---------------------------------------------------------------------------------------------------


def epoch_with_logging(loop, batches, dataset, writer, logging, epoch):
    """One epoch of a custom loop (train, then evaluate the test split) with one kind of logging."""
    on_batch = None
    if logging == "scalars_per_batch":
        # 02's way: the loss of every batch at a global step.
        def on_batch(loss):
            with writer.as_default():
                tf.summary.scalar("batch_loss", loss, step=loop.optimizer.iterations)

    for images, labels in batches.train:
        loss = loop.train_step(images, labels)
        if on_batch is not None:
            on_batch(loss)
    true_labels, probabilities = starter.evaluate(loop.test_step, batches.test)
    predicted_labels = probabilities.argmax(axis=1)
    with writer.as_default():
        if logging == "histograms_per_epoch":
            for weight in loop.model.weights:
                tf.summary.histogram(weight.path, weight, step=epoch)
        elif logging == "confusion_matrix_per_epoch":
            # 04's way: count, plot, render and log the matrix of the held-out split.
            counts = utils.get_confusion_matrix(true_labels, predicted_labels, len(dataset.class_names))
            figure = utils.plot_confusion_matrix(counts, dataset.class_names)
            tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=epoch)
    writer.flush()


def logging_overheads(dataset, args, loop, train_batches, scratch_dir):
    """Each logging variant's median epoch time over the epoch time without any summaries.

    `train_batches` is the starter's training pipeline, its cache already filled.
    """
    batches = types.SimpleNamespace(train=train_batches, test=starter.test_pipeline(dataset, args.batch_size))
    variants = ["none", "scalars_per_batch", "histograms_per_epoch", "confusion_matrix_per_epoch"]
    writers = {name: tf.summary.create_file_writer(str(Path(scratch_dir) / name)) for name in variants}
    epochs = {name: iter(range(1_000_000)) for name in variants}

    def one_epoch(name, batches=batches):
        epoch_with_logging(loop, batches, dataset, writers[name], name, next(epochs[name]))

    # A short epoch of each fills the test cache and warms up the traces and the summary ops; not timed.
    warm_up = types.SimpleNamespace(train=batches.train.take(WARM_UP_STEPS), test=batches.test)
    for name in variants:
        one_epoch(name, warm_up)
    times = seconds_taken({name: (lambda name=name: one_epoch(name)) for name in variants}, args.repeats)
    epoch_seconds = {name: statistics.median(times[name]) for name in variants}
    for name in variants:
        writers[name].close()
        print(f"  {name:>26}: {epoch_seconds[name]:.2f} s per epoch", flush=True)
    epoch_seconds["spread"] = {name: sorted(times[name]) for name in variants}
    return {name: epoch_seconds[name] / epoch_seconds["none"] for name in variants[1:]}, epoch_seconds


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


def machine():
    return {
        "cores": os.cpu_count(),
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "processor": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
    }


def ips(results, name):
    """A training rate with the range of its repeats, e.g. '1,830 images/s (1,790-1,850)'."""
    low, *_, high = results["spread"][f"{name}_ips"]
    return f"{results[f'{name}_ips']:,.0f} images/s ({low:,.0f}-{high:,.0f})"


def cache_mb(results, name):
    """A cache's measured memory with its tensors' bytes, e.g. '168.7 MB (154.0 MB of tensors)'."""
    cache = results["cache_memory"][name]
    return f"{cache['mb']:,.1f} MB ({cache['payload_mb']:,.1f} MB of tensors)"


def results_table(results):
    rates, overhead = results, results["logging_overhead"]
    seconds = results["epoch_seconds"]
    epoch_range = {name: f"{min(times):.1f}-{max(times):.1f} s" for name, times in seconds["spread"].items()}
    cache_images = results["cache_memory"]["images"]
    rows = [
        "| Measurement | Figure |",
        "|---|---|",
        f"| compute only (batches already in memory) | {ips(rates, 'compute_only')} |",
        f"| starter pipeline (as the scripts use it) | {ips(rates, 'starter')} |",
        f"| video's pipeline (float32 cache, augmented image by image) | {ips(rates, 'video')} |",
        f"| starter pipeline alone, feeding no model (its own cost) | {ips(rates, 'starter_alone')} |",
        f"| video's pipeline alone, feeding no model | {ips(rates, 'video_alone')} |",
        f"| starter / compute only | {rates['starter_over_compute']:.3f} |",
        f"| starter / video's, pipelines alone (target: at least 1.5) | {rates['starter_over_video']:.2f} |",
        f"| starter / video's, training | {rates['starter_over_video_training']:.3f} |",
        f"| training cache of {cache_images:,} images, starter (uint8; target: at most 160 MB) "
        f"| {cache_mb(results, 'starter')} |",
        f"| training cache of {cache_images:,} images, video's (float32) | {cache_mb(results, 'video')} |",
        f"| epoch without summaries (train + evaluate the test split) | {seconds['none']:.2f} s "
        f"({epoch_range['none']}) |",
        f"| per-batch scalars (02's way) / no summaries | {overhead['scalars_per_batch']:.3f} "
        f"(epochs {epoch_range['scalars_per_batch']}) |",
        f"| per-epoch histograms of all weights / no summaries | {overhead['histograms_per_epoch']:.3f} "
        f"(epochs {epoch_range['histograms_per_epoch']}) |",
        f"| per-epoch confusion-matrix image (04's way) / no summaries "
        f"| {overhead['confusion_matrix_per_epoch']:.3f} (epochs {epoch_range['confusion_matrix_per_epoch']}) |",
    ]
    info = results["machine"]
    data = results["data"]
    took = results["seconds"]
    return "\n".join(
        [
            "# Input pipeline, cache memory and logging benchmark",
            "",
            f"Made by `python bench/pipeline_bench.py{' --quick' if data['quick'] else ''}` on {info['cores']} "
            f"cores ({info['device']}, {info['processor']}), TensorFlow {info['tensorflow']}: {data['train']:,} "
            f"training and {data['test']:,} test images ({data['name']}), batch size {data['batch_size']}, "
            f"median of {data['repeats']} repeats taken in turns, after a warm-up; in brackets the lowest and "
            f"highest repeat. The 1-minute load average before the run: {info['load_average_at_start']}; the run "
            f"took {took['total'] / 60:.1f} minutes.",
            "",
            "Each cache's memory is how much a fresh process grows while the first pass fills it, with images "
            "decoded from PNG one by one as tensorflow_datasets does; in brackets the bytes of the tensors it holds.",
            "",
            *rows,
            "",
        ]
    )


def main(argv=None):
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
    parser.add_argument("--repeats", type=plumbing.positive_int, default=None, help="timed repeats (default: 3)")
    parser.add_argument("--quick", action="store_true", help="a small subset and 2 repeats: a smoke test")
    parser.add_argument("--output-dir", default=str(ROOT / "bench"), help="where RESULTS.md and results.json go")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (2 if args.quick else 3)
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
    loop = make_loop(dataset)
    pipelines = {name: make_pipeline(dataset, args.batch_size) for name, make_pipeline in PIPELINES.items()}
    took = {}

    print("Training rate:", flush=True)
    results = training_rates(dataset, args, loop, pipelines)
    results["starter_over_compute"] = results["starter_ips"] / results["compute_only_ips"]
    results["starter_over_video"] = results["starter_alone_ips"] / results["video_alone_ips"]
    results["starter_over_video_training"] = results["starter_ips"] / results["video_ips"]
    took["training_rates"] = time.perf_counter() - started

    print("Memory of the training cache (each in a fresh process):", flush=True)
    cache_images = QUICK_CACHE_IMAGES if args.quick else TRAIN_IMAGES
    results["cache_memory"] = cache_memory(cache_images, args.batch_size)
    results["train_cache_mb"] = results["cache_memory"]["starter"]["mb"]
    results["video_train_cache_mb"] = results["cache_memory"]["video"]["mb"]
    took["cache_memory"] = time.perf_counter() - started - sum(took.values())

    print("Epoch time of a custom loop:", flush=True)
    # The video's cache is not needed any more: let its float32 images go before the longest section.
    del pipelines["video"]
    with tempfile.TemporaryDirectory() as scratch_dir:
        results["logging_overhead"], results["epoch_seconds"] = logging_overheads(
            dataset, args, loop, pipelines["starter"], scratch_dir
        )
    took["logging"] = time.perf_counter() - started - sum(took.values())
    took["total"] = time.perf_counter() - started
    results["seconds"] = took
    results["machine"] = {**machine(), "load_average_at_start": load_at_start}
    results["data"] = {
        "name": "synthetic CIFAR-10-shaped" if args.dataset == "synthetic" else dataset.name,
        "train": dataset.num_train,
        "test": dataset.num_test,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "quick": args.quick,
    }

    table = results_table(results)
    (output_dir / "RESULTS.md").write_text(table, encoding="utf-8")
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(table)
    print(f"Written to {output_dir / 'RESULTS.md'} and {output_dir / 'results.json'}")


if __name__ == "__main__":
    ctrl_c.run(main)
