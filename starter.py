"""
Title: The starter: data pipeline, CNN and a custom training loop (no TensorBoard yet)
Description: The shared plumbing every numbered script imports, and on its own the video's starting point.

Run it: `python starter.py` (or `python starter.py --quick` for a few-second smoke test).
It writes no logs: it prints one line of metrics per epoch, which is exactly the problem the
numbered scripts solve with TensorBoard.
Time on a 2-core CPU: about 15 s with `--quick`; a few minutes for the default 5 epochs on CIFAR-10.

What lives here, so that the numbered scripts can stay short:
- `load_dataset`: CIFAR-10, MNIST and Fashion-MNIST through tensorflow_datasets, or `digits` (the 8x8
  handwritten digits bundled with scikit-learn, for offline use), always with a real held-out test split;
- `train_pipeline` / `test_pipeline`: tf.data input pipelines (08_profiler.py adds a naive one);
- `build_cnn`, `make_custom_loop` (`make_train_step`, `make_test_step`): the model and its compiled steps;
- `make_parser`, `new_run_dir`, `run`: the flags every script shares, log directories that are never
  reused, and a Ctrl-C that keeps what was logged.
"""

import argparse
import dataclasses
import datetime
import logging
import socket
import sys
import threading
import urllib.parse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

DATASETS = ("auto", "cifar10", "mnist", "fashion_mnist", "digits")

# Where tensorflow_datasets downloads each dataset from. A quick connection to this host tells whether a
# download can work, because an offline `tfds.load` keeps retrying for minutes before it gives up.
DOWNLOAD_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
CONNECT_TIMEOUT_SECONDS = 3.0

# tensorflow_datasets reads CIFAR-10's class names from the downloaded archive; before that (and under
# tfds.testing.mock_data) it only knows "0".."9". These are the names the archive holds.
CIFAR10_CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# Left-right flips keep a cat a cat and a shirt a shirt, but they turn digits into other shapes.
FLIP_DATASETS = ("cifar10", "fashion_mnist")

# `--quick` keeps this many examples of each split, so that a smoke test takes seconds.
QUICK_TRAIN_EXAMPLES = 1024
QUICK_TEST_EXAMPLES = 512

SHUFFLE_BUFFER = 10_000
AUTOTUNE = tf.data.AUTOTUNE


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


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def positive_int(text):
    """argparse type: an integer greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def positive_float(text):
    """argparse type: a finite number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text}")
    return value


def make_parser(description, epochs=5, batch_size=64):
    """The flags every script shares; a script adds its own before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="auto",
        help="auto: CIFAR-10 when it is cached or can be downloaded, else the offline digits",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"passes over the training data (default: {epochs}, or 1 with --quick)",
    )
    parser.set_defaults(default_epochs=epochs)
    parser.add_argument("--batch-size", type=positive_int, default=batch_size)
    parser.add_argument("--logdir", default="logs", help="root of all TensorBoard logs (default: logs)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny subset and one epoch: a smoke test that takes seconds",
    )
    return parser


def parse_args(parser, argv=None):
    """Parses the command line; `--quick` means one epoch unless `--epochs` is given too."""
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else args.default_epochs
    return args


def fail(message):
    """Ends the program with a one-line error on stderr and exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def run(main):
    """Runs `main()`; Ctrl-C ends it with one line instead of a traceback.

    Scripts close their summary writers in `finally` blocks, so everything logged before Ctrl-C is kept.
    """
    try:
        main()
    except KeyboardInterrupt:
        print("\nStopped by Ctrl-C: everything logged so far is kept.", file=sys.stderr)
        raise SystemExit(130) from None


# ---------------------------------------------------------------------------------------------------
# Log directories
# ---------------------------------------------------------------------------------------------------


def new_run_dir(logdir, script_path):
    """Creates and returns a new, empty directory `<logdir>/<script stem>/<date-time>`.

    A rerun never writes into an earlier run: if the name exists (two runs in the same second) a
    suffix is added. An unwritable logdir ends the program with a one-line error.
    """
    experiment_dir = Path(logdir) / Path(script_path).stem
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        experiment_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            run_dir = experiment_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            try:
                run_dir.mkdir()
                return run_dir
            except FileExistsError:
                continue
    except OSError as error:
        fail(f"cannot write logs under --logdir {logdir!r}: {error.strerror or error}")
    fail(f"could not find a new run directory name under {experiment_dir}")


def shared_run_dir(logdir, script_path, name):
    """Returns `<logdir>/<script stem>/<name>`, created if needed, for processes that share one run.

    Whoever writes into it must still never overwrite what is there (see 06_hparams.py).
    """
    run_dir = Path(logdir) / Path(script_path).stem / name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"cannot write logs under --logdir {logdir!r}: {error.strerror or error}")
    return run_dir


def print_view_command(run_dir, tab, extra_flags=""):
    """Prints the command that shows this script's logs, and the tab to open."""
    experiment_dir = Path(run_dir).parent
    flags = f" {extra_flags}" if extra_flags else ""
    print(f"\nLogs written to {run_dir}")
    print(f"View them:  tensorboard --logdir {experiment_dir}{flags}")
    print(f"Then open http://localhost:6006 and the {tab} tab.")


def configure_gpu():
    """Lets TensorFlow grow GPU memory as needed, when there is a GPU; returns 'GPU' or 'CPU'.

    The video set memory growth on `physical_devices[0]` unconditionally, which raises an IndexError on
    a machine without a GPU.
    """
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return "GPU" if gpus else "CPU"


# ---------------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------------


def can_connect(url, timeout=CONNECT_TIMEOUT_SECONDS):
    """True when a TCP connection to the URL's host opens within `timeout` seconds.

    The check runs in a daemon thread because a name lookup on a broken network ignores socket
    timeouts; the thread is simply abandoned when it takes too long.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result = {}

    def connect():
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            result["ok"] = True
        except OSError:
            result["ok"] = False

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return result.get("ok", False)


def is_cached(name):
    """True when tensorflow_datasets has already prepared `name` in its data directory."""
    import tensorflow_datasets as tfds

    # A half-finished earlier download makes tfds log a warning here; the answer is simply "no".
    absl_logger = logging.getLogger("absl")
    previous_level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return tfds.builder(name).is_prepared()
    finally:
        absl_logger.setLevel(previous_level)


def resolve_dataset(name):
    """Turns `--dataset` into a dataset that can really be loaded, within seconds.

    `auto` picks CIFAR-10 when it is cached or downloadable, else `digits` with one warning line. A
    dataset named explicitly that can't be had ends the program with a one-line error; it is never
    silently swapped for another.
    """
    if name == "digits":
        return name
    wanted = "cifar10" if name == "auto" else name
    if is_cached(wanted) or can_connect(DOWNLOAD_URLS[wanted]):
        return wanted
    host = urllib.parse.urlsplit(DOWNLOAD_URLS[wanted]).hostname
    if name == "auto":
        print(
            f"warning: CIFAR-10 is not cached and {host} cannot be reached, so this run uses the "
            "offline 'digits' dataset; to get CIFAR-10, run once online: python starter.py --dataset cifar10",
            file=sys.stderr,
        )
        return "digits"
    fail(
        f"{name} is not cached and {host} cannot be reached; connect to the internet once "
        "to download it, or use --dataset digits (offline)"
    )


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


def _num_examples(info, split, data):
    """The size of a split, from the dataset's info, or counted where the info has none (mock data)."""
    try:
        return info.splits[split].num_examples
    except KeyError:
        return sum(1 for _ in data)


def _load_tfds(name):
    import tensorflow_datasets as tfds

    (train, test), info = tfds.load(name, split=["train", "test"], as_supervised=True, with_info=True)
    class_names = tuple(info.features["label"].names)
    if name == "cifar10" and class_names[0] == "0":
        class_names = CIFAR10_CLASS_NAMES
    num_train = _num_examples(info, "train", train)
    num_test = _num_examples(info, "test", test)
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
    """Loads an already resolved dataset name (see `resolve_dataset`) as a `Dataset`.

    With `quick`, only the first few hundred examples of each split are kept.
    """
    dataset = _load_digits_dataset() if name == "digits" else _load_tfds(name)
    if quick:
        dataset.num_train = min(dataset.num_train, QUICK_TRAIN_EXAMPLES)
        dataset.num_test = min(dataset.num_test, QUICK_TEST_EXAMPLES)
        dataset.train = dataset.train.take(dataset.num_train)
        dataset.test = dataset.test.take(dataset.num_test)
    return dataset


def load_from_args(args):
    """Resolves and loads `--dataset`, honouring `--quick`, and prints what was loaded."""
    name = resolve_dataset(args.dataset)
    dataset = load_dataset(name, quick=args.quick)
    print(
        f"Dataset: {dataset.name}, {dataset.num_train} train and {dataset.num_test} held-out test "
        f"images of {dataset.image_shape}"
    )
    return dataset


# ---------------------------------------------------------------------------------------------------
# Input pipelines
# ---------------------------------------------------------------------------------------------------


def normalize(image, label):
    """uint8 pixels to float32 in [0, 1]."""
    return tf.cast(image, tf.float32) / 255.0, label


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
    """The optimized training pipeline: normalize, cache, shuffle, batch, augment batches, prefetch.

    The cache sits before the random augmentation so every epoch gets fresh augmentations, and the
    augmentation runs on whole batches, in parallel, so the model never waits for input.
    """
    augment = make_augment(dataset.channels, dataset.flip)
    return (
        dataset.train.map(normalize, num_parallel_calls=AUTOTUNE)
        .cache()
        .shuffle(min(SHUFFLE_BUFFER, dataset.num_train))
        .batch(batch_size)
        .map(augment, num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )


def test_pipeline(dataset, batch_size):
    """The held-out test split, normalized, cached and batched; never augmented or shuffled."""
    return dataset.test.map(normalize, num_parallel_calls=AUTOTUNE).cache().batch(batch_size).prefetch(AUTOTUNE)


@dataclasses.dataclass
class Batches:
    """The batched training and test pipelines of a dataset, and the number of training steps per epoch."""

    train: tf.data.Dataset
    test: tf.data.Dataset
    steps_per_epoch: int


def make_batches(dataset, batch_size):
    """Builds both pipelines once, so that every model trained on them shares one cache."""
    return Batches(
        train=train_pipeline(dataset, batch_size),
        test=test_pipeline(dataset, batch_size),
        steps_per_epoch=steps_per_epoch(dataset, batch_size),
    )


# ---------------------------------------------------------------------------------------------------
# Model and training steps
# ---------------------------------------------------------------------------------------------------


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


def make_train_step(model, optimizer, loss_metric, accuracy_metric):
    """A compiled training step that updates the epoch's running loss and accuracy.

    Returns:
        `train_step(images, labels) -> batch loss`. The loss metric is weighted by the batch size, so
        at the end of an epoch it holds the exact mean over every training example.
    """
    loss_fn = make_loss()

    # reduce_retracing: the last, smaller batch of an epoch reuses the trace instead of making a new one.
    @tf.function(reduce_retracing=True)
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
    """A compiled evaluation step (dropout off) that returns the predicted class of each image."""
    loss_fn = make_loss()

    @tf.function(reduce_retracing=True)
    def test_step(images, labels):
        logits = model(images, training=False)
        loss_metric.update_state(loss_fn(labels, logits), sample_weight=tf.shape(labels)[0])
        accuracy_metric.update_state(labels, logits)
        return tf.argmax(logits, axis=-1)

    return test_step


def steps_per_epoch(dataset, batch_size):
    """How many batches one epoch of the training split has (the last one may be smaller)."""
    return -(-dataset.num_train // batch_size)


def train_epoch(train_step, train_batches, steps, on_batch=None):
    """Runs one epoch of a custom loop with a progress bar; `on_batch(loss)` is called after each batch."""
    progress = keras.utils.Progbar(steps)
    for images, labels in train_batches:
        loss = train_step(images, labels)
        if on_batch is not None:
            on_batch(loss)
        progress.add(1, values=[("loss", float(loss))])


def evaluate(test_step, test_batches):
    """Runs the test step over every batch; returns (true labels, predicted labels) as numpy arrays."""
    true_labels, predicted_labels = [], []
    for images, labels in test_batches:
        predicted_labels.append(test_step(images, labels).numpy())
        true_labels.append(labels.numpy())
    return np.concatenate(true_labels), np.concatenate(predicted_labels)


def epoch_metrics():
    """A fresh (loss, accuracy) pair of Keras metrics; call `reset_state()` between epochs."""
    return keras.metrics.Mean(name="loss"), keras.metrics.SparseCategoricalAccuracy(name="accuracy")


@dataclasses.dataclass
class CustomLoop:
    """What a custom training loop needs: a model, its optimizer, compiled steps and epoch metrics."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    train_step: object
    test_step: object
    train_loss: keras.metrics.Mean
    train_accuracy: keras.metrics.SparseCategoricalAccuracy
    test_loss: keras.metrics.Mean
    test_accuracy: keras.metrics.SparseCategoricalAccuracy

    def reset_metrics(self):
        """Starts a new epoch, so that each metric holds the mean over this epoch only."""
        for metric in (self.train_loss, self.train_accuracy, self.test_loss, self.test_accuracy):
            metric.reset_state()


def make_custom_loop(dataset, learning_rate=1e-3, units=64, dropout=0.1):
    """A fresh CNN for `dataset` with an Adam optimizer, its train and test steps and their metrics."""
    model = build_cnn(dataset.image_shape, len(dataset.class_names), units=units, dropout=dropout)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    train_loss, train_accuracy = epoch_metrics()
    test_loss, test_accuracy = epoch_metrics()
    return CustomLoop(
        model=model,
        optimizer=optimizer,
        train_step=make_train_step(model, optimizer, train_loss, train_accuracy),
        test_step=make_test_step(model, test_loss, test_accuracy),
        train_loss=train_loss,
        train_accuracy=train_accuracy,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
    )


# ---------------------------------------------------------------------------------------------------
# The video's starter: a custom training loop that logs nothing to TensorBoard
# ---------------------------------------------------------------------------------------------------


def main():
    args = parse_args(make_parser("The video's starter: a custom training loop with no TensorBoard."))
    configure_gpu()
    dataset = load_from_args(args)
    batches = make_batches(dataset, args.batch_size)
    loop = make_custom_loop(dataset)

    for epoch in range(args.epochs):
        loop.reset_metrics()
        for images, labels in batches.train:
            loop.train_step(images, labels)
        evaluate(loop.test_step, batches.test)
        print(
            f"epoch {epoch + 1}: train loss {loop.train_loss.result():.4f}, "
            f"accuracy {loop.train_accuracy.result():.4f}; "
            f"test loss {loop.test_loss.result():.4f}, accuracy {loop.test_accuracy.result():.4f}"
        )


if __name__ == "__main__":
    run(main)
