"""The two training pipelines the benchmark compares, the data they read, and reading a pipeline alone.

The starter's pipeline is `starter.train_pipeline`, as every lesson uses it; the video's is here, only to be
compared with it. bench/README.md says how each is measured and what was found.
"""

import functools

import numpy as np
import tensorflow as tf

import starter

AUTOTUNE = tf.data.AUTOTUNE


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


def video_train_pipeline(dataset, batch_size):
    """The video's training pipeline: normalize, cache, shuffle, augment image by image, batch, prefetch.

    Its cache holds float32 images (four times the bytes of uint8 ones), and its augmentation (10% grayscale,
    brightness, flips) runs once per image. Both maps run in parallel, the most generous reading of the
    video. The lessons use `starter.train_pipeline`; this one exists only to be compared with it.
    """
    augment = starter.make_augment(dataset.image_shape[-1], dataset.flip)
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
# from in the same rounds, it shows what the compilation gains (see `starter.normalize_and_augment`).
STARTER_WITHOUT_XLA = functools.partial(starter.train_pipeline, jit_compile=False)


def with_autotune_off(pipeline):
    """The same pipeline with tf.data's autotuner off: how its own cost is measured, feeding no model.

    With the autotuner on, a fresh iterator that reads as fast as it can sometimes runs a whole epoch at a much
    lower rate, at chance, so the ratio of the two pipelines swung from round to round rather than measuring their
    work (bench/README.md, "How it measures"). Off, each AUTOTUNE map keeps the autotuner's starting
    parallelism (one call per core, 16 at most). Training is measured with the autotuner on, as the scripts run:
    there the step is many times slower than either pipeline, and what a pipeline costs it is the CPU the pipeline
    takes from the step.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.with_options(options)


def read_through(batches):
    """Reads every batch and feeds no model (the pipeline's own rate); returns how many images it read."""
    return sum(int(labels.shape[0]) for _, labels in batches)
