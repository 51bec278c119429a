"""
Title: The starter: data, input pipelines, a CNN and a training loop, with no TensorBoard yet
Description: The video's starting point, which every numbered script builds on, in the order the video builds it:
1. the data (`load_dataset`): CIFAR-10, MNIST or Fashion-MNIST, or the offline `digits`, with a test split
   (and `--quick`'s small subset of it);
2. the input pipelines (`normalize`, `make_augment`, `batch_normalizer_and_augmenter`, `train_pipeline`,
   `test_pipeline`);
3. the model (`build_cnn`) and its loss (`make_loss`);
4. the compiled training and test steps, the metrics they update (`make_steps`, `evaluate`), and the progress bar
   that shows those metrics while an epoch runs (`epoch_progbar`, `epoch_means`);
5. `main()`: a custom training loop that prints one line of metrics per epoch and logs nothing, which is
   exactly the problem the numbered scripts solve with TensorBoard.

Run it:   python starter.py            (or --quick for a smoke test)
Time on a 2-core CPU: about 14 s with --quick (15 s for the default 5 epochs of digits);
about 10 minutes for 5 epochs of CIFAR-10 (estimated at 117 s an epoch, see the README).
The flags, run directories and dataset choice that every script shares are plumbing, in plumbing.py.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import dataclasses
import functools
import types

import keras
import numpy as np
import tensorflow as tf

import plumbing

# tensorflow_datasets reads CIFAR-10's class names from the downloaded archive; before that (and under
# tfds.testing.mock_data) it only knows "0".."9". These are the names the archive holds.
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Left-right flips keep a cat a cat and a shirt a shirt, but they turn digits into other shapes.
FLIP_DATASETS = ("cifar10", "fashion_mnist")
SHUFFLE_BUFFER = 10_000
# `--quick` keeps this many examples of each split, so that a smoke test takes seconds.
QUICK_TRAIN_EXAMPLES = 1024
QUICK_TEST_EXAMPLES = 512
# The share of the training split held out for validation, and the seed that fixes which examples.
VALIDATION_FRACTION = 0.2
VALIDATION_SEED = 0
AUTOTUNE = tf.data.AUTOTUNE


# 1. The data -----------------------------------------------------------------------------------------------


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
    def channels(self):
        return self.image_shape[-1]

    @property
    def flip(self):
        return self.name in FLIP_DATASETS


def _load_tfds(name):
    import tensorflow_datasets as tfds

    (train, test), info = tfds.load(name, split=["train", "test"], as_supervised=True, with_info=True)
    class_names = tuple(info.features["label"].names)
    if name == "cifar10" and class_names[0] == "0":
        class_names = CIFAR10_CLASS_NAMES
    return Dataset(name, train, test, class_names, tuple(info.features["image"].shape), len(train), len(test))


def _load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 handwritten digits, offline: 0..16 pixels scaled to uint8, a fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    train = tf.data.Dataset.from_tensor_slices((train_images, train_labels))
    test = tf.data.Dataset.from_tensor_slices((test_images, test_labels))
    class_names = tuple(str(digit) for digit in range(10))
    return Dataset("digits", train, test, class_names, images.shape[1:], len(train_labels), len(test_labels))


def _load(name):
    return _load_digits() if name == "digits" else _load_tfds(name)


def quick_subset(dataset):
    """What `--quick` trains on: a copy of `dataset` with the first QUICK_TRAIN_EXAMPLES and QUICK_TEST_EXAMPLES
    examples of its splits."""
    num_train = min(dataset.num_train, QUICK_TRAIN_EXAMPLES)
    num_test = min(dataset.num_test, QUICK_TEST_EXAMPLES)
    train, test = dataset.train.take(num_train), dataset.test.take(num_test)
    return dataclasses.replace(dataset, train=train, test=test, num_train=num_train, num_test=num_test)


def load_dataset(name, quick=False, verbose=True):
    """Loads `auto`, `cifar10`, `mnist`, `fashion_mnist` or `digits` as a `Dataset`.

    `auto` becomes CIFAR-10 when it is cached or can be downloaded, else the offline `digits`
    (`plumbing.resolve_dataset` decides, in seconds); `quick=True` keeps `quick_subset`'s few examples. With
    `verbose`, prints one line that says what was loaded.
    """
    dataset = _load(plumbing.resolve_dataset(name))
    if quick:
        dataset = quick_subset(dataset)
    if verbose:
        print(
            f"Dataset: {dataset.name}, {dataset.num_train} train and {dataset.num_test} held-out test "
            f"images of {dataset.image_shape}"
        )
    return dataset


def hold_out_validation(dataset, fraction=VALIDATION_FRACTION):
    """Splits the training data into what a model learns from and a validation slice to select on.

    Whatever a learner selects on (the epoch to stop at, a checkpoint, a trial's hyperparameters) must be
    measured on this slice, never on the test split, which then stays an unbiased measure of what was selected.

    Returns:
        (training_part, validation_part): two copies of `dataset`. `training_part.train` lacks the validation
        slice; `validation_part.test` IS the validation slice (so `test_pipeline(validation_part, ...)` batches
        it), with `validation_part.train` empty. `digits` is split with scikit-learn, stratified by class, with a
        fixed seed. A tensorflow_datasets split is too big to load into memory for that, so its last `fraction`
        is held out instead: tensorflow_datasets shuffles the examples when it prepares a dataset, so that fixed
        slice is a random sample of the classes (not stratified exactly), and costs nothing to take.
    """
    num_validation = max(1, round(dataset.num_train * fraction))
    num_train = dataset.num_train - num_validation
    if dataset.name != "digits":
        train, validation = dataset.train.take(num_train), dataset.train.skip(num_train)
    else:
        from sklearn.model_selection import train_test_split

        images, labels = (tensor.numpy() for tensor in dataset.train.batch(dataset.num_train).get_single_element())
        train_images, validation_images, train_labels, validation_labels = train_test_split(
            images, labels, test_size=num_validation, stratify=labels, random_state=VALIDATION_SEED
        )
        train = tf.data.Dataset.from_tensor_slices((train_images, train_labels))
        validation = tf.data.Dataset.from_tensor_slices((validation_images, validation_labels))
    training_part = dataclasses.replace(dataset, train=train, num_train=num_train)
    validation_part = dataclasses.replace(
        dataset, train=validation.take(0), num_train=0, test=validation, num_test=num_validation
    )
    return training_part, validation_part


# 2. The input pipelines ------------------------------------------------------------------------------------


def normalize(images, labels):
    """uint8 pixels to float32 in [0, 1], for one image or a whole batch."""
    return tf.cast(images, tf.float32) / 255.0, labels


def make_augment(channels, flip):
    """Returns `augment(images, labels, seed=None)` for one image (H, W, C) or a whole batch (N, H, W, C).

    Every random choice is drawn per image: 10% of colour images become grayscale (kept with 3
    channels so the model's input shape does not change), brightness moves by up to 0.1, and flips
    happen only where the dataset allows them. Pixels are clipped back to [0, 1].

    The draws are stateless: `seed`, two integers, fixes all of them, so the same seed gives the same
    augmentation whichever thread runs it (`train_pipeline` passes one seed per batch). Without a seed, one is
    drawn from TensorFlow's global generator, which `keras.utils.set_random_seed` seeds.
    """

    def augment(images, labels, seed=None):
        if seed is None:
            seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
        # Three independent seeds from one: one per kind of random choice.
        grayscale_seed, brightness_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        # One random draw per image: shape (N, 1, 1, 1) for a batch, (1, 1, 1) for one image.
        per_image = tf.concat([tf.shape(images)[:-3], [1, 1, 1]], axis=0)
        if channels == 3:
            # One gray channel, which tf.where repeats across all three (tf.image.grayscale_to_rgb does the same
            # but checks the shape with Assert ops, which XLA drops with a warning: see
            # `batch_normalizer_and_augmenter`).
            grayscale = tf.image.rgb_to_grayscale(images)
            to_grayscale = tf.random.stateless_uniform(per_image, seed=grayscale_seed) < 0.1
            images = tf.where(to_grayscale, grayscale, images)
        images = images + tf.random.stateless_uniform(per_image, seed=brightness_seed, minval=-0.1, maxval=0.1)
        if flip:
            flipped = tf.reverse(images, axis=[-2])
            images = tf.where(tf.random.stateless_uniform(per_image, seed=flip_seed) < 0.5, flipped, images)
        return tf.clip_by_value(images, 0.0, 1.0), labels

    return augment


@functools.cache
def batch_normalizer_and_augmenter(channels, flip, jit_compile, augment_maker, normalizer):
    """`normalize_and_augment(batch, seed)` for whole batches, compiled with XLA: one per kind of image and process.

    Normalizing and augmenting a batch takes eight elementwise ops (cast, divide, grayscale, select, add,
    reverse, select, clip), each a pass over the whole batch into a buffer of its own. On a CPU those passes
    take cores the training step needs: run one op at a time, they cost 2.6 ms of CPU per batch of 64
    CIFAR-10 images, and the step trained at 0.93 of its rate on batches already in memory. XLA
    (`jit_compile=True`) fuses them into one pass, 0.5 ms, and the step keeps 0.97 to 0.99 of its rate
    (bench/RESULTS.md measures both). The training step itself stays uncompiled: on a CPU, XLA slows its
    convolutions down (the bench's "XLA / plain").

    XLA compiles the function once per batch shape (the last batch of an epoch is smaller), in about 0.4 s
    each. Made once per process (functools.cache) and shared by every pipeline, it is compiled once, however
    many pipelines a script builds (06 builds one per trial). `augment_maker` and `normalizer` (`make_augment`
    and `normalize`) are part of the cache's key, so a notebook that redefines either gets a new function.
    Everything inside must compile with XLA: a `tf.print` there, say, fails at the first batch; to debug it,
    or where XLA is missing, pass `jit_compile=False` to `train_pipeline`. XLA draws other random numbers than
    TensorFlow's own kernels from the same seed, so the two give different (equally repeatable) augmentations.
    """
    augment = augment_maker(channels, flip)

    @tf.function(jit_compile=jit_compile)
    def normalize_and_augment(batch, seed):
        images, labels = normalizer(*batch)
        return augment(images, labels, seed=seed)

    return normalize_and_augment


def train_pipeline(dataset, batch_size, jit_compile=True):
    """The training pipeline: cache, shuffle, batch, then normalize and augment whole batches, prefetch.

    The cache holds the uint8 images, a quarter of the memory of float32 ones (CIFAR-10: about 154 MB
    instead of 614 MB). It sits before the random augmentation, so every epoch gets fresh augmentations,
    and the per-pixel work runs on whole batches, in parallel, compiled with XLA (see
    `batch_normalizer_and_augmenter`; `jit_compile=False` runs it op by op: for debugging, and for the
    benchmark's comparison), so the model does not wait for input and keeps the CPU to itself.
    """
    # Parallel calls of a map run in no fixed order, so random ops that draw from a shared generator inside it
    # (tf.random.uniform) give each batch different numbers from run to run, even with a seed. Instead, every
    # batch is paired with a seed of its own from a stream of random integers: the global seed (--seed) fixes the
    # stream, and rerandomize_each_iteration gives new seeds, hence new augmentations, every epoch.
    batch_seeds = tf.data.Dataset.random(rerandomize_each_iteration=True).batch(2)
    normalize_and_augment = batch_normalizer_and_augmenter(
        dataset.channels, dataset.flip, jit_compile, make_augment, normalize
    )

    batches = dataset.train.cache().shuffle(min(SHUFFLE_BUFFER, dataset.num_train)).batch(batch_size)
    return (
        tf.data.Dataset.zip((batches, batch_seeds))
        .map(normalize_and_augment, num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )


def test_pipeline(dataset, batch_size):
    """The held-out `dataset.test`, cached as uint8, batched and normalized; never augmented or shuffled.

    That is the test split, or, for the `validation_part` of `hold_out_validation`, the validation slice.
    """
    return dataset.test.cache().batch(batch_size).map(normalize, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


# 3. The model ----------------------------------------------------------------------------------------------


def build_cnn(image_shape, num_classes, units=64, dropout=0.1):
    """The video's small CNN: conv, conv, max-pool, flatten, dense, dropout, dense logits.

    The dense layer is named "features": its output is the embedding that 07_projector.py shows.
    """
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


# 4. The training and test steps ----------------------------------------------------------------------------


def batch_signature(model):
    """A compiled step's input: the model's float32 images and their int64 labels, any number of them (a None
    batch dimension), so that an epoch's last, smaller batch reuses the trace instead of retracing (a warning)."""
    return (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int64))


def make_steps(model, optimizer):
    """The compiled train and test steps of `model`, trained by `optimizer`, and the metrics they update.

    Returns a namespace: `train_step(images, labels)` returns the batch loss, `test_step(images, labels)` (dropout
    off) each image's class probabilities. train_loss, train_accuracy, test_loss and test_accuracy are running
    means; reset `metrics` (those four) at the start of each epoch, and each then holds that epoch's mean.
    """
    loss_fn = make_loss()
    train_loss, test_loss = keras.metrics.Mean(name="loss"), keras.metrics.Mean(name="loss")
    train_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    test_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @tf.function(input_signature=batch_signature(model))
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_fn(labels, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        # Weighted by the batch size, so that the mean is over examples even when the last batch is smaller.
        train_loss.update_state(loss, sample_weight=tf.shape(labels)[0])
        train_accuracy.update_state(labels, logits)
        return loss

    @tf.function(input_signature=batch_signature(model))
    def test_step(images, labels):
        logits = model(images, training=False)
        test_loss.update_state(loss_fn(labels, logits), sample_weight=tf.shape(labels)[0])
        test_accuracy.update_state(labels, logits)
        return tf.nn.softmax(logits)

    return types.SimpleNamespace(
        train_step=train_step,
        test_step=test_step,
        train_loss=train_loss,
        train_accuracy=train_accuracy,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        metrics=(train_loss, train_accuracy, test_loss, test_accuracy),
    )


def epoch_progbar(num_batches):
    """A `keras.utils.Progbar` for one training epoch that shows the very numbers TensorBoard gets for it.

    After every step, give it the epoch's running means: `progress.add(1, values=starter.epoch_means(steps))`.
    They are already means, so it shows them as they are ("stateful" metrics), and its last line shows the epoch's
    mean loss and accuracy, the values a lesson logs for that epoch. (Given each batch's loss instead, a Keras 3
    Progbar shows the average of those during the epoch, but only the last batch's loss at its final update.)
    """
    return keras.utils.Progbar(num_batches, stateful_metrics=("loss", "accuracy"))


def epoch_means(steps):
    """The mean training loss and accuracy of the epoch so far (`make_steps`' metrics), as a Progbar's values."""
    return [("loss", float(steps.train_loss.result())), ("accuracy", float(steps.train_accuracy.result()))]


def evaluate(test_step, test_batches):
    """Runs the test step over every batch, in order, and returns (true_labels, probabilities): N integer
    labels and an (N, num_classes) array; `probabilities.argmax(axis=1)` is each image's predicted class."""
    true_labels, probabilities = [], []
    for images, labels in test_batches:
        probabilities.append(test_step(images, labels).numpy())
        true_labels.append(labels.numpy())
    return np.concatenate(true_labels), np.concatenate(probabilities)


# 5. The video's training loop: it prints metrics and logs nothing to TensorBoard ---------------------------


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
        for metric in steps.metrics:
            metric.reset_state()
        for images, labels in train_batches:
            steps.train_step(images, labels)
        # Only for the test metrics it updates: this loop needs no predictions.
        evaluate(steps.test_step, test_batches)
        print(
            f"epoch {epoch + 1}: train loss {steps.train_loss.result():.4f}, accuracy "
            f"{steps.train_accuracy.result():.4f}; test loss {steps.test_loss.result():.4f}, accuracy "
            f"{steps.test_accuracy.result():.4f}"
        )


if __name__ == "__main__":
    ctrl_c.run(main)
