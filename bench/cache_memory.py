"""The memory of each pipeline's training cache, measured in fresh processes.

tf.data reports no memory for a cache, and TensorFlow keeps no allocator statistics on a CPU, so the figure is
measured, not computed: each pipeline fills its cache in a fresh process, and how much more memory (RSS) that
process keeps, once the pass's freed memory is handed back to the OS, is what the cache costs: its tensors, the
cache's bookkeeping per image, and the allocator's fragmentation. bench/README.md gives the figures and the noise.
"""

import concurrent.futures
import ctypes
import gc
import multiprocessing
import os
import statistics

import numpy as np
import tensorflow as tf

import plumbing
import starter

from pipelines import AUTOTUNE, PIPELINES, read_through

MB = 1e6
# The probe decodes PNGs of this many distinct images, over and over (see png_cifar10_train).
DISTINCT_PNG_IMAGES = 1_000


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
    batch shape, shared by every pipeline in the process) all happen before the measurement: each keeps a few MB
    that are not the cache's.
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


def measure(count, batch_size, processes):
    """The memory of each pipeline's training cache for `count` CIFAR-10-shaped images: the median of `processes`.

    One process's figure varies by several MB (threads' memory, the allocator's leftovers), so each pipeline is
    measured in several processes, in turns, and the median is its figure.
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
    return results
