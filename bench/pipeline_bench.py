"""
Title: Does the input pipeline keep the model fed, how much memory does its cache take, what does logging cost?
Description: The starter's CNN trained on data already in memory, fed by the starter's pipeline and by the
video's, each pipeline alone, the same step compiled with XLA, the memory of each training cache, and the cost of
each kind of TensorBoard logging, measured side by side in one process, in paired rounds (bench/README.md).

Run it:   python bench/pipeline_bench.py            (CIFAR-10-shaped data made in memory: runs offline)
          python bench/pipeline_bench.py --quick    (a small subset and 3 short rounds: a smoke test)
Writes:   bench/RESULTS.md (a table) and bench/results.json (the same figures), or into --output-dir.
"""

import argparse
import json
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository's modules (starter, plumbing, utils), and the benchmark's own, next to this file.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import ctrl_c  # noqa: E402  (first, before TensorFlow: see ctrl_c.py)

import plumbing  # noqa: E402
import starter  # noqa: E402

import cache_memory  # noqa: E402
import pipelines  # noqa: E402
import report  # noqa: E402
import rounds  # noqa: E402

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
# --quick is a smoke test: small splits, but a cache large enough that its growth stands out of the noise.
QUICK_TRAIN_IMAGES, QUICK_TEST_IMAGES, QUICK_CACHE_IMAGES = 512, 256, 2_048
# Each cache is measured in this many fresh processes; its figure is the median.
CACHE_PROCESSES, QUICK_CACHE_PROCESSES = 3, 1
# A round trains each variant on TRAIN_BATCHES batches, evaluates TEST_BATCHES test batches, and reads a whole
# epoch through each pipeline feeding no model, twice. A median of 15 or more rounds ignores the odd round that fell
# into a slow minute; 30 batches a slice keep the per-round ratios' spread small (bench/README.md).
ROUNDS, TRAIN_BATCHES, TEST_BATCHES = 20, 30, 20
QUICK_ROUNDS, QUICK_TRAIN_BATCHES, QUICK_TEST_BATCHES = 3, 2, 2
# Each training slice starts with this many untimed batches (see variants.make_variants), meant to use up the
# batches its pipeline read ahead while other variants ran (its prefetch buffer), which its timer would not see.
WARM_UP_BATCHES, QUICK_WARM_UP_BATCHES = 5, 1


def load_benchmark_data(args):
    if args.dataset == "synthetic":
        sizes = (QUICK_TRAIN_IMAGES, QUICK_TEST_IMAGES) if args.quick else (TRAIN_IMAGES, TEST_IMAGES)
        return pipelines.synthetic_cifar10(*sizes)
    return starter.load_dataset(args.dataset, quick=args.quick, verbose=False)


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
    load_at_start = report.warn_if_busy()
    plumbing.configure_gpu()
    dataset = load_benchmark_data(args)
    print(f"Data: {dataset.num_train} train and {dataset.num_test} test images of {dataset.image_shape}")
    took = {}

    print(f"Paired rounds (each variant once a round, in turns; {args.rounds} rounds):", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        results = rounds.measure(dataset, args, sizes, scratch_dir)
    took["rounds"] = time.perf_counter() - started
    for name in rounds.RATE_ROWS:
        print(f"  {name:>19}: {results[f'{name}_ips']:,.0f} images/s", flush=True)
    report.warn_if_stolen(results)

    print("Memory of the training cache (each in fresh processes, median):", flush=True)
    cache_images = QUICK_CACHE_IMAGES if args.quick else TRAIN_IMAGES
    processes = QUICK_CACHE_PROCESSES if args.quick else CACHE_PROCESSES
    results["cache_memory"] = cache_memory.measure(cache_images, args.batch_size, processes)
    for name in ("starter", "video"):
        print(f"  {name:>19}: {report.cache_mb(results['cache_memory'][name])}", flush=True)
    results["train_cache_mb"] = results["cache_memory"]["starter"]["mb"]
    results["video_train_cache_mb"] = results["cache_memory"]["video"]["mb"]
    results["train_cache_over_video"] = results["train_cache_mb"] / results["video_train_cache_mb"]
    took["cache_memory"] = time.perf_counter() - started - sum(took.values())

    results["rounds"] = args.rounds
    results["total_seconds"] = time.perf_counter() - started
    results["seconds"] = {**took, "total": results["total_seconds"]}
    results["machine"] = {**report.machine(), "load_average_at_start": load_at_start}
    results["data"] = {
        "name": "synthetic CIFAR-10-shaped" if args.dataset == "synthetic" else dataset.name,
        "train": dataset.num_train,
        "test": dataset.num_test,
        "batch_size": args.batch_size,
        **vars(sizes),
        "quick": args.quick,
    }

    previous = report.previous_results(output_dir / "results.json", results["data"])
    page = report.results_page(results, previous)
    (output_dir / "RESULTS.md").write_text(page, encoding="utf-8")
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print()
    print(page)
    print(f"Written to {output_dir / 'RESULTS.md'} and {output_dir / 'results.json'}")


if __name__ == "__main__":
    ctrl_c.run(main)
