"""
Title: Does the input pipeline keep the model fed, and what does logging cost?
Description: Training rates with data already in memory, the naive pipeline and the starter pipeline,
and the epoch time of a custom loop with each kind of TensorBoard logging, side by side in one process.

Run it:   python bench/pipeline_bench.py            (CIFAR-10-shaped data made in memory: runs offline)
          python bench/pipeline_bench.py --quick    (a small subset and fewer repeats: a smoke test)
          python bench/pipeline_bench.py --dataset cifar10   (real data, where it is cached or downloadable)
Writes:   bench/RESULTS.md (a table) and bench/results.json (the same figures), or into --output-dir.
Time on a 2-core CPU: see bench/RESULTS.md; about a minute with --quick.
"""

import argparse
import json
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import plumbing  # noqa: E402
import starter  # noqa: E402
import utils  # noqa: E402

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
QUICK_TRAIN_IMAGES, QUICK_TEST_IMAGES = 2_048, 512
WARM_UP_STEPS = 10


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
    return starter.load_dataset(plumbing.resolve_dataset(args.dataset), quick=args.quick)


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
    """The starter's CNN with Adam, its compiled train and test steps (their metrics are not read here)."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    return types.SimpleNamespace(
        model=model,
        optimizer=optimizer,
        train_step=starter.make_train_step(model, optimizer, *starter.epoch_metrics()),
        test_step=starter.make_test_step(model, *starter.epoch_metrics()),
    )


def train_over(loop, batches):
    """Runs the train step over every batch and waits for the last step to finish."""
    loss = None
    for images, labels in batches:
        loss = loop.train_step(images, labels)
    float(loss)


def training_rates(dataset, args, loop):
    """Images per second of the same train step fed three ways."""
    starter_batches = starter.train_pipeline(dataset, args.batch_size)
    naive_batches = starter.naive_train_pipeline(dataset, args.batch_size)
    # The limit: batches already augmented and held in memory, so the step never waits for input.
    in_memory = list(starter_batches)
    train_over(loop, in_memory[:WARM_UP_STEPS])
    # One full pass fills the starter pipeline's cache; the naive one has no cache to fill.
    train_over(loop, starter_batches)
    train_over(loop, naive_batches.take(WARM_UP_STEPS))
    feeds = {"compute_only": in_memory, "naive": naive_batches, "starter": starter_batches}
    runs = {name: (lambda batches=batches: train_over(loop, batches)) for name, batches in feeds.items()}
    # The starter pipeline with no model to feed: on a CPU it shares the cores with the train step, so
    # this rate shows how much of their time it takes.
    runs["pipeline_only"] = lambda: [None for _ in starter_batches]
    seconds = seconds_taken(runs, args.repeats)
    rates = {f"{name}_ips": dataset.num_train / statistics.median(seconds[name]) for name in runs}
    spread = {f"{name}_ips": sorted(dataset.num_train / time for time in seconds[name]) for name in runs}
    for name in runs:
        print(f"  {name:>13}: {rates[f'{name}_ips']:,.0f} images/s", flush=True)
    rates["spread"] = spread
    return rates


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
    true_labels, predicted_labels = starter.evaluate(loop.test_step, batches.test)
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


def logging_overheads(dataset, args, loop, scratch_dir):
    """Each logging variant's median epoch time over the epoch time without any summaries."""
    batches = types.SimpleNamespace(
        train=starter.train_pipeline(dataset, args.batch_size), test=starter.test_pipeline(dataset, args.batch_size)
    )
    variants = ["none", "scalars_per_batch", "histograms_per_epoch", "confusion_matrix_per_epoch"]
    writers = {name: tf.summary.create_file_writer(str(Path(scratch_dir) / name)) for name in variants}
    epochs = {name: iter(range(1_000_000)) for name in variants}

    def one_epoch(name):
        epoch_with_logging(loop, batches, dataset, writers[name], name, next(epochs[name]))

    # A first epoch of each warms up the cache, the traces and the summary ops; it is not timed.
    for name in variants:
        one_epoch(name)
    times = seconds_taken({name: (lambda name=name: one_epoch(name)) for name in variants}, args.repeats)
    epoch_seconds = {name: statistics.median(times[name]) for name in variants}
    for name in variants:
        writers[name].close()
        print(f"  {name:>26}: {epoch_seconds[name]:.2f} s per epoch", flush=True)
    epoch_seconds["spread"] = {name: sorted(times[name]) for name in variants}
    return {name: epoch_seconds[name] / epoch_seconds["none"] for name in variants[1:]}, epoch_seconds


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


def results_table(results):
    rates, overhead = results, results["logging_overhead"]
    seconds = results["epoch_seconds"]
    epoch_range = {name: f"{min(times):.1f}-{max(times):.1f} s" for name, times in seconds["spread"].items()}
    rows = [
        "| Measurement | Figure |",
        "|---|---|",
        f"| compute only (batches already in memory) | {ips(rates, 'compute_only')} |",
        f"| naive pipeline (per image, no cache, no parallelism, no prefetch) | {ips(rates, 'naive')} |",
        f"| starter pipeline (as the scripts use it) | {ips(rates, 'starter')} |",
        f"| starter pipeline alone, feeding no model (its own cost) | {ips(rates, 'pipeline_only')} |",
        f"| starter / compute only | {rates['starter_over_compute']:.3f} |",
        f"| starter / naive | {rates['starter_over_naive']:.2f} |",
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
    return "\n".join(
        [
            "# Input pipeline and logging benchmark",
            "",
            f"Made by `python bench/pipeline_bench.py{' --quick' if data['quick'] else ''}` on {info['cores']} "
            f"cores ({info['device']}, {info['processor']}), TensorFlow {info['tensorflow']}: {data['train']:,} "
            f"training and {data['test']:,} test images ({data['name']}), batch size {data['batch_size']}, "
            f"median of {data['repeats']} repeats taken in turns, after a warm-up; in brackets the lowest and "
            "highest repeat.",
            "",
            *rows,
            "",
        ]
    )


def main():
    parser = argparse.ArgumentParser(description="Benchmark the input pipelines and the cost of logging.")
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
    args = parser.parse_args()
    args.repeats = args.repeats or (2 if args.quick else 3)
    output_dir = Path(args.output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        plumbing.fail(f"cannot write to --output-dir {args.output_dir!r}: {error.strerror or error}")

    plumbing.configure_gpu()
    dataset = load_benchmark_data(args)
    print(f"Data: {dataset.num_train} train and {dataset.num_test} test images of {dataset.image_shape}")
    loop = make_loop(dataset)
    print("Training rate:", flush=True)
    results = training_rates(dataset, args, loop)
    results["starter_over_compute"] = results["starter_ips"] / results["compute_only_ips"]
    results["starter_over_naive"] = results["starter_ips"] / results["naive_ips"]
    print("Epoch time of a custom loop:", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        results["logging_overhead"], results["epoch_seconds"] = logging_overheads(dataset, args, loop, scratch_dir)
    results["machine"] = machine()
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
    plumbing.run(main)
