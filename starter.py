"""
Title: The starter: data, input pipelines, a CNN and a training loop, with no TensorBoard yet
Description: The video's starting point, which every numbered script builds on, in the order the video builds it:
1. the data (`load_dataset`: CIFAR-10, MNIST or Fashion-MNIST, or the offline `digits`), with a held-out test split;
2. the input pipelines (`normalize`, `make_augment`, `train_pipeline`, `test_pipeline`);
3. the model (`build_cnn`, and `compiled_cnn` for `model.fit`);
4. the training and test steps (`make_train_step`, `make_test_step`, `epoch_metrics`, `evaluate`);
5. `main()`: a custom training loop that prints one line of metrics per epoch and logs nothing, which is
   exactly the problem the numbered scripts solve with TensorBoard.

Run it:   python starter.py            (or --quick for a smoke test)
Time on a 2-core CPU: about 11 s with --quick (14 s for the default 5 epochs of digits);
a few minutes for the default 5 epochs of CIFAR-10.
The flags, run directories and dataset choice that every script shares are plumbing, in plumbing.py.
"""

import dataclasses

import plumbing

import keras
import numpy as np
import tensorflow as tf

# tensorflow_datasets reads CIFAR-10's class names from the downloaded archive; before that (and under
# tfds.testing.mock_data) it only knows "0".."9". These are the names the archive holds.
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Left-right flips keep a cat a cat and a shirt a shirt, but they turn digits into other shapes.
FLIP_DATASETS = ("cifar10", "fashion_mnist")

# `--quick` keeps this many examples of each split, so that a smoke test takes seconds.
QUICK_TRAIN_EXAMPLES = 1024
QUICK_TEST_EXAMPLES = 512

SHUFFLE_BUFFER = 10_000
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


def load_digits(test_fraction=0.2, seed=0):
    """The 8x8 handwritten digits that ship with scikit-learn, split into train and test.

    Returns:
        (train_images, train_labels, test_images, test_labels): uint8 images of shape (N, 8, 8, 1)
        scaled from the original 0..16 to 0..255, and int64 labels. The split is stratified and fixed.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    labels = digits.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return train_images, train_labels, test_images, test_labels


def _load_tfds(name):
    import tensorflow_datasets as tfds

    (train, test), info = tfds.load(name, split=["train", "test"], as_supervised=True, with_info=True)
    class_names = tuple(info.features["label"].names)
    if name == "cifar10" and class_names[0] == "0":
        class_names = CIFAR10_CLASS_NAMES
    # Under tfds.testing.mock_data the info has no splits: count the examples there.
    sizes = {name: split.num_examples for name, split in info.splits.items()}
    num_train = sizes.get("train") or sum(1 for _ in train)
    num_test = sizes.get("test") or sum(1 for _ in test)
    image_shape = tuple(info.features["image"].shape)
    return Dataset(name, train, test, class_names, image_shape, num_train, num_test)


def _load_digits_dataset():
    train_images, train_labels, test_images, test_labels = load_digits()
    return Dataset(
        name="digits",
        train=tf.data.Dataset.from_tensor_slices((train_images, train_labels)),
        test=tf.data.Dataset.from_tensor_slices((test_images, test_labels)),
        class_names=tuple(str(digit) for digit in range(10)),
        image_shape=train_images.shape[1:],
        num_train=len(train_labels),
        num_test=len(test_labels),
    )


def load_dataset(name, quick=False):
    """Loads a dataset by name (`auto` is resolved first, by `plumbing.resolve_dataset`) as a `Dataset`.

    With `quick`, only the first QUICK_TRAIN_EXAMPLES and QUICK_TEST_EXAMPLES examples of the splits are kept.
    """
    dataset = _load_digits_dataset() if name == "digits" else _load_tfds(name)
    if quick:
        dataset.num_train = min(dataset.num_train, QUICK_TRAIN_EXAMPLES)
        dataset.num_test = min(dataset.num_test, QUICK_TEST_EXAMPLES)
        dataset.train = dataset.train.take(dataset.num_train)
        dataset.test = dataset.test.take(dataset.num_test)
    return dataset


# 2. The input pipelines ------------------------------------------------------------------------------------


def normalize(images, labels):
    """uint8 pixels to float32 in [0, 1], for one image or a whole batch."""
    return tf.cast(images, tf.float32) / 255.0, labels


def make_augment(channels, flip):
    """Returns `augment(images, labels)` for one image (H, W, C) or a whole batch (N, H, W, C).

    Every random choice is drawn per image: 10% of colour images become grayscale (kept with 3
    channels so the model's input shape does not change), brightness moves by up to 0.1, and flips
    happen only where the dataset allows them. Pixels are clipped back to [0, 1].
    """

    def augment(images, labels):
        # One random draw per image: shape (N, 1, 1, 1) for a batch, (1, 1, 1) for one image.
        per_image = tf.concat([tf.shape(images)[:-3], [1, 1, 1]], axis=0)
        if channels == 3:
            grayscale = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(images))
            images = tf.where(tf.random.uniform(per_image) < 0.1, grayscale, images)
        images = images + tf.random.uniform(per_image, -0.1, 0.1)
        if flip:
            flipped = tf.reverse(images, axis=[-2])
            images = tf.where(tf.random.uniform(per_image) < 0.5, flipped, images)
        return tf.clip_by_value(images, 0.0, 1.0), labels

    return augment


def train_pipeline(dataset, batch_size):
    """The training pipeline: cache, shuffle, batch, then normalize and augment whole batches, prefetch.

    The cache holds the uint8 images, a quarter of the memory of float32 ones (CIFAR-10: about 154 MB
    instead of 614 MB). It sits before the random augmentation, so every epoch gets fresh augmentations,
    and the per-pixel work runs on whole batches, in parallel, so the model does not wait for input.
    """
    augment = make_augment(dataset.channels, dataset.flip)

    def normalize_and_augment(images, labels):
        return augment(*normalize(images, labels))

    return (
        dataset.train.cache()
        .shuffle(min(SHUFFLE_BUFFER, dataset.num_train))
        .batch(batch_size)
        .map(normalize_and_augment, num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )


def test_pipeline(dataset, batch_size):
    """The held-out test split, cached as uint8, batched and normalized; never augmented or shuffled."""
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


def compiled_cnn(dataset, learning_rate=1e-3, units=64, dropout=0.1):
    """`build_cnn` for `dataset`, compiled for `model.fit` with Adam, cross-entropy and accuracy."""
    model = build_cnn(dataset.image_shape, len(dataset.class_names), units=units, dropout=dropout)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=make_loss(),
        metrics=["accuracy"],
    )
    return model


def make_loss():
    """Cross-entropy on integer labels and logits (the model has no softmax)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# 4. The training and test steps ----------------------------------------------------------------------------


def batch_signature(model):
    """The input signature of a compiled step: any number of the model's images, and their int64 labels.

    The batch dimension is None, so the last, smaller batch of an epoch reuses the one trace instead of
    making a new one (and printing a retracing warning).
    """
    return (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32), tf.TensorSpec((None,), tf.int64))


def make_train_step(model, optimizer, loss_metric, accuracy_metric):
    """A compiled training step that updates the epoch's running loss and accuracy.

    Returns:
        `train_step(images, labels) -> batch loss`. The loss metric is weighted by the batch size, so
        at the end of an epoch it holds the exact mean over every training example.
    """
    loss_fn = make_loss()

    @tf.function(input_signature=batch_signature(model))
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = loss_fn(labels, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        loss_metric.update_state(loss, sample_weight=tf.shape(labels)[0])
        accuracy_metric.update_state(labels, logits)
        return loss

    return train_step


def make_test_step(model, loss_metric, accuracy_metric):
    """A compiled evaluation step (dropout off) that returns the probability of each class for each image."""
    loss_fn = make_loss()

    @tf.function(input_signature=batch_signature(model))
    def test_step(images, labels):
        logits = model(images, training=False)
        loss_metric.update_state(loss_fn(labels, logits), sample_weight=tf.shape(labels)[0])
        accuracy_metric.update_state(labels, logits)
        return tf.nn.softmax(logits)

    return test_step


def epoch_metrics():
    """A fresh (loss, accuracy) pair of Keras metrics; call `reset_state()` on each between epochs."""
    return keras.metrics.Mean(name="loss"), keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def steps_per_epoch(dataset, batch_size):
    """How many batches one epoch of the training split has (the last one may be smaller)."""
    return -(-dataset.num_train // batch_size)


def evaluate(test_step, test_batches):
    """Runs the test step over every batch, in order.

    Returns:
        (true_labels, probabilities): N integer labels and an (N, num_classes) array of class probabilities;
        `probabilities.argmax(axis=1)` is the predicted class of each image.
    """
    true_labels, probabilities = [], []
    for images, labels in test_batches:
        probabilities.append(test_step(images, labels).numpy())
        true_labels.append(labels.numpy())
    return np.concatenate(true_labels), np.concatenate(probabilities)


# 5. The video's training loop: it prints metrics and logs nothing to TensorBoard ---------------------------


def make_parser():
    return plumbing.make_parser("The video's starter: a custom training loop with no TensorBoard.")


def main():
    args = plumbing.parse_args(make_parser())
    plumbing.configure_gpu()
    dataset = plumbing.load_from_args(args)
    train_batches = train_pipeline(dataset, args.batch_size)
    test_batches = test_pipeline(dataset, args.batch_size)

    model = build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    train_loss, train_accuracy = epoch_metrics()
    test_loss, test_accuracy = epoch_metrics()
    train_step = make_train_step(model, optimizer, train_loss, train_accuracy)
    test_step = make_test_step(model, test_loss, test_accuracy)

    for epoch in range(args.epochs):
        for metric in (train_loss, train_accuracy, test_loss, test_accuracy):
            metric.reset_state()
        for images, labels in train_batches:
            train_step(images, labels)
        evaluate(test_step, test_batches)
        print(
            f"epoch {epoch + 1}: train loss {train_loss.result():.4f}, accuracy {train_accuracy.result():.4f}; "
            f"test loss {test_loss.result():.4f}, accuracy {test_accuracy.result():.4f}"
        )


if __name__ == "__main__":
    plumbing.run(main)
