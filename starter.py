"""
Title: The starter: data, input pipelines, a CNN and a training loop, with no TensorBoard yet
Description: The video's starting point, which every numbered script imports: it prints metrics and logs nothing.

Run it:   python starter.py            (or --quick for a smoke test)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import dataclasses
import types

import keras
import numpy as np
import tensorflow as tf

import plumbing

CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FLIP_DATASETS = ("cifar10", "fashion_mnist")  # A flipped cat is a cat; a flipped digit is another shape.
QUICK_TRAIN_EXAMPLES, QUICK_TEST_EXAMPLES = 1024, 512  # What `--quick` keeps of each split.
VALIDATION_FRACTION, VALIDATION_SEED = 0.2, 0  # The share of the training split held out, and which examples.
SHUFFLE_BUFFER, AUTOTUNE = 10_000, tf.data.AUTOTUNE

# ## 1. The data
#
# CIFAR-10, MNIST or Fashion-MNIST through `tensorflow_datasets`, as in the video, or `digits`, the 8x8 digits
# inside scikit-learn (no download), each with a real held-out test split. What a learner selects on (an epoch, a
# trial) is measured on a validation slice of the training data (`hold_out_validation`), never on the test split.


@dataclasses.dataclass
class Dataset:
    """A dataset with a held-out test split; images are uint8, labels int64."""

    name: str
    train: tf.data.Dataset
    test: tf.data.Dataset
    class_names: tuple
    image_shape: tuple
    num_train: int
    num_test: int

    @property
    def flip(self):
        return self.name in FLIP_DATASETS


def _stratified_split(images, labels, test_size, seed):
    """Two tf.data datasets of (image, label) pairs: scikit-learn's split, stratified by class, fixed by `seed`."""
    from sklearn.model_selection import train_test_split

    split = train_test_split(images, labels, test_size=test_size, stratify=labels, random_state=seed)
    first_images, second_images, first_labels, second_labels = split
    first = tf.data.Dataset.from_tensor_slices((first_images, first_labels))
    return first, tf.data.Dataset.from_tensor_slices((second_images, second_labels))


def _load_digits():
    """scikit-learn's 8x8 handwritten digits, offline: 0..16 pixels scaled to uint8, a fixed stratified split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    train, test = _stratified_split(images, digits.target.astype(np.int64), test_size=0.2, seed=0)
    return Dataset("digits", train, test, tuple("0123456789"), images.shape[1:], len(train), len(test))


def load_dataset(name, quick=False, verbose=True):
    """Loads `auto` (CIFAR-10 if it can be had, else `digits`: see plumbing.resolve_dataset), `cifar10`, `mnist`,
    `fashion_mnist` or `digits` as a `Dataset`; `quick` keeps the first QUICK_*_EXAMPLES of each split."""
    name = plumbing.resolve_dataset(name)
    if name == "digits":
        dataset = _load_digits()
    else:
        import tensorflow_datasets as tfds

        (train, test), info = tfds.load(name, split=["train", "test"], as_supervised=True, with_info=True)
        class_names = tuple(info.features["label"].names)
        # Until CIFAR-10's archive is downloaded (and under tfds.testing.mock_data), tfds names its classes 0..9.
        if name == "cifar10" and class_names[0] == "0":
            class_names = CIFAR10_CLASS_NAMES
        dataset = Dataset(name, train, test, class_names, tuple(info.features["image"].shape), len(train), len(test))
    if quick:
        num_train, num_test = min(dataset.num_train, QUICK_TRAIN_EXAMPLES), min(dataset.num_test, QUICK_TEST_EXAMPLES)
        train, test = dataset.train.take(num_train), dataset.test.take(num_test)
        dataset = dataclasses.replace(dataset, train=train, test=test, num_train=num_train, num_test=num_test)
    if verbose:
        counts = f"{dataset.num_train} train and {dataset.num_test} held-out test images"
        print(f"Dataset: {dataset.name}, {counts} of {dataset.image_shape}")
    return dataset


def hold_out_validation(dataset, fraction=VALIDATION_FRACTION):
    """(training_part, validation_part): `dataset` less a validation slice of its training data, and a copy whose
    `test` is that slice (no `train`). Stratified for `digits`; a tfds split's last `fraction` (tfds shuffled it)."""
    num_validation = max(1, round(dataset.num_train * fraction))
    num_train = dataset.num_train - num_validation
    if dataset.name == "digits":
        images, labels = (tensor.numpy() for tensor in dataset.train.batch(dataset.num_train).get_single_element())
        train, validation = _stratified_split(images, labels, test_size=num_validation, seed=VALIDATION_SEED)
    else:
        train, validation = dataset.train.take(num_train), dataset.train.skip(num_train)
    training_part = dataclasses.replace(dataset, train=train, num_train=num_train)
    empty = validation.take(0)
    validation_part = dataclasses.replace(dataset, train=empty, num_train=0, test=validation, num_test=num_validation)
    return training_part, validation_part


# ## 2. The input pipelines
#
# The training pipeline caches uint8 images (a quarter of float32's memory), shuffles and batches. It then
# normalizes and augments whole batches in one pass compiled with XLA: fresh augmentations every epoch, and the
# CPU left to the model. Each batch has a seed of its own, so `--seed` repeats it. The test pipeline only normalizes.


def normalize(images, labels):
    """uint8 pixels to float32 in [0, 1], for one image or a whole batch."""
    return tf.cast(images, tf.float32) / 255.0, labels


def make_augment(channels, flip):
    """`augment(images, labels, seed=None)` for an image (H, W, C) or a batch (N, H, W, C). Per image: 10% of colour
    images turn gray (still 3 channels), brightness moves by up to 0.1, flips where `flip` allows; clipped to [0, 1].
    `seed` (two integers; else drawn from the global generator) fixes every draw, whichever thread runs it."""

    def augment(images, labels, seed=None):
        seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32) if seed is None else seed
        grayscale_seed, brightness_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        # One random draw per image: shape (N, 1, 1, 1) for a batch, (1, 1, 1) for one image.
        per_image = tf.concat([tf.shape(images)[:-3], [1, 1, 1]], axis=0)
        if channels == 3:
            # tf.where repeats the gray channel across three (grayscale_to_rgb's Assert ops would make XLA warn).
            to_grayscale = tf.random.stateless_uniform(per_image, seed=grayscale_seed) < 0.1
            images = tf.where(to_grayscale, tf.image.rgb_to_grayscale(images), images)
        images = images + tf.random.stateless_uniform(per_image, seed=brightness_seed, minval=-0.1, maxval=0.1)
        if flip:
            flipped = tf.reverse(images, axis=[-2])
            images = tf.where(tf.random.stateless_uniform(per_image, seed=flip_seed) < 0.5, flipped, images)
        return tf.clip_by_value(images, 0.0, 1.0), labels

    return augment


# One function per process: every pipeline shares its traces and XLA's compilations. Why XLA here and not in the
# train step: bench/README.md. In a notebook, rerun this cell after changing `normalize` or `make_augment`.
@tf.function(jit_compile=True)
def normalize_and_augment(batch, seed, flip):
    """A batch `(images, labels)` normalized and augmented with `seed`: XLA fuses the ops into one pass."""
    images, labels = normalize(*batch)
    return make_augment(images.shape[-1], flip)(images, labels, seed=seed)


def train_pipeline(dataset, batch_size, jit_compile=True, drop_remainder=False):
    """Cache (uint8), shuffle, batch (`drop_remainder`: no smaller last batch), normalize and augment whole batches,
    prefetch. `jit_compile=False` augments op by op (to debug it: XLA compiles no `tf.print`), same seeds."""
    augment_batch = normalize_and_augment if jit_compile else normalize_and_augment.python_function
    # Each batch's seed comes from a stream that the global seed fixes and rerandomize_each_iteration renews.
    batch_seeds = tf.data.Dataset.random(rerandomize_each_iteration=True).batch(2)
    batches = dataset.train.cache().shuffle(min(SHUFFLE_BUFFER, dataset.num_train)).batch(batch_size, drop_remainder)
    return (
        tf.data.Dataset.zip((batches, batch_seeds))
        .map(lambda batch, seed: augment_batch(batch, seed, dataset.flip), num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )


def test_pipeline(dataset, batch_size):
    """The held-out `dataset.test` (or `hold_out_validation`'s slice), cached as uint8, batched and normalized."""
    return dataset.test.cache().batch(batch_size).map(normalize, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


# ## 3. The CNN and its training and test steps
#
# The video's small CNN ends in logits, without a softmax (so its loss takes `from_logits=True`). Each step is a
# `tf.function` that updates running means of the loss and accuracy: reset at the start of an epoch, they hold its
# means at its end, the figures the lessons log. `train_epoch` trains one epoch with a progress bar of those means.


def build_cnn(image_shape, num_classes, units=64, dropout=0.1):
    """Conv, conv, max-pool, flatten, dense ("features": the embedding 07 shows), dropout, dense logits."""
    return keras.Sequential(
        [
            keras.Input(shape=image_shape),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu", name="features"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(num_classes, name="logits"),
        ],
        name="cnn",
    )


def make_loss():
    """Cross-entropy on integer labels and logits (the model has no softmax)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def batch_signature(model):
    """A step's input: float32 images, int64 labels, any batch size (an epoch's smaller last batch: no retrace)."""
    return (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int64))


def make_steps(model, optimizer):
    """A namespace: `train_step(images, labels)` (the batch loss), `test_step(images, labels)` (class probabilities,
    dropout off), and the `metrics` they update: train_loss, train_accuracy, test_loss, test_accuracy."""
    loss_fn = make_loss()
    steps = types.SimpleNamespace(
        train_loss=keras.metrics.Mean(name="loss"),
        train_accuracy=keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        test_loss=keras.metrics.Mean(name="loss"),
        test_accuracy=keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    )
    steps.metrics = (steps.train_loss, steps.train_accuracy, steps.test_loss, steps.test_accuracy)

    @tf.function(input_signature=batch_signature(model))
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_fn(labels, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        # Weighted by the batch size, so that the mean is over examples even when the last batch is smaller.
        steps.train_loss.update_state(loss, sample_weight=tf.shape(labels)[0])
        steps.train_accuracy.update_state(labels, logits)
        return loss

    @tf.function(input_signature=batch_signature(model))
    def test_step(images, labels):
        logits = model(images, training=False)
        steps.test_loss.update_state(loss_fn(labels, logits), sample_weight=tf.shape(labels)[0])
        steps.test_accuracy.update_state(labels, logits)
        return tf.nn.softmax(logits)

    steps.train_step, steps.test_step = train_step, test_step
    return steps


def epoch_progbar(num_batches):
    """A Progbar for one epoch that shows the running means as they are: `progress.add(1, epoch_means(steps))`."""
    return keras.utils.Progbar(num_batches, stateful_metrics=("loss", "accuracy"))


def epoch_means(steps):
    """The mean training loss and accuracy of the epoch so far (`make_steps`' metrics), as a Progbar's values."""
    return [("loss", float(steps.train_loss.result())), ("accuracy", float(steps.train_accuracy.result()))]


def train_epoch(steps, train_batches, epoch, epochs):
    """Trains epoch `epoch` (from 0) of `epochs` with a progress bar; then `steps.metrics` hold the epoch's means."""
    print(f"Epoch {epoch + 1}/{epochs}")
    for metric in steps.metrics:
        metric.reset_state()
    progress = epoch_progbar(len(train_batches))  # len(): the pipeline's batches (known: the data's size is)
    for images, labels in train_batches:
        steps.train_step(images, labels)
        progress.add(1, values=epoch_means(steps))


def evaluate(test_step, test_batches):
    """(true_labels, probabilities) of every batch, in order: `probabilities.argmax(axis=1)` are the predictions."""
    true_labels, probabilities = [], []
    for images, labels in test_batches:
        probabilities.append(test_step(images, labels).numpy())
        true_labels.append(labels.numpy())
    return np.concatenate(true_labels), np.concatenate(probabilities)


# ## 4. The video's training loop
#
# It trains, measures the test split after every epoch and prints the figures: it logs nothing, so the curves
# exist only on a terminal. The numbered scripts start from here and add TensorBoard.


def make_parser():
    return plumbing.make_parser("The video's starter: a custom training loop with no TensorBoard.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    train_batches = train_pipeline(dataset, args.batch_size)
    test_batches = test_pipeline(dataset, args.batch_size)
    model = build_cnn(dataset.image_shape, len(dataset.class_names))
    steps = make_steps(model, keras.optimizers.Adam(learning_rate=1e-3))
    for epoch in range(args.epochs):
        train_epoch(steps, train_batches, epoch, args.epochs)
        evaluate(steps.test_step, test_batches)  # for the test metrics it updates: no predictions needed here
        print(f"  test loss {steps.test_loss.result():.4f}, test accuracy {steps.test_accuracy.result():.4f}")


if __name__ == "__main__":
    ctrl_c.run(main)
