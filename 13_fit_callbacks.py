"""
Title: Your own summaries from `model.fit`: batch-level curves and a confusion matrix every epoch
Description: `keras.callbacks.TensorBoard` with `update_freq`, and a callback of your own that writes into its run.

TensorBoard tabs: Scalars, Images (tick "Show actual image size"), Graphs (choose "Conceptual graph"), Time Series.
Run it:   python 13_fit_callbacks.py      (or --quick for a smoke test)
View it:  tensorboard --logdir logs/13_fit_callbacks/<run> --samples_per_plugin images=1000   (printed at the end)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras
import numpy as np
import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "13_fit_callbacks"  # its logs go to <logdir>/13_fit_callbacks/

# ## Batch-level curves: `update_freq`
#
# `keras.callbacks.TensorBoard(log_dir=run_dir)` writes `epoch_loss` and `epoch_accuracy` each epoch, into a
# `train` and a `validation` run under `run_dir`. `update_freq=N` adds `batch_loss` and `batch_accuracy` every N
# batches, at the global batch number (1, 2, ... across epochs). Their values are running means since the epoch
# began, as in the progress bar: each curve restarts every epoch, and its last point equals `epoch_loss`.
#
# Pick an N that divides the number of batches in an epoch. On Keras 3.15, an epoch whose last batch number is
# not a multiple of N silently loses its `epoch_*` scalars, and whatever another callback writes at its end
# (docs/keras-callback.md, "update_freq").

# About this many batch-level points per epoch: enough for a curve, few enough to keep the event files small.
BATCH_POINTS_PER_EPOCH = 20


def batch_logging_interval(batches_per_epoch, points_per_epoch=BATCH_POINTS_PER_EPOCH):
    """The `update_freq` to give the TensorBoard callback: the largest divisor of `batches_per_epoch` that still
    gives at least `points_per_epoch` points per epoch (so 1, every batch, for fewer than twice that many batches).
    """
    largest = max(1, batches_per_epoch // points_per_epoch)
    return max(divisor for divisor in range(1, largest + 1) if batches_per_epoch % divisor == 0)


# ## A callback of your own: a confusion matrix every epoch
#
# A `keras.callbacks.Callback` runs eagerly, between batches, where the whole validation slice and the epoch
# number are at hand. (A `tf.summary.image` inside the model's `call()` would run inside the compiled training
# step. It is traced once, and would keep the step of that trace: docs/limitations.md, "Summaries inside `call()`".)
#
# Its writer is one of its own, into the directory where Keras' callback writes its validation curves, so that
# the image sits in the same `validation` run. Keras' writer is private, so this is a second writer: the run then
# holds two event files, and the tags must differ from Keras' (`epoch_*`, `evaluation_*`). The lines to copy are
# in `on_epoch_end`: the image, at `step=epoch`, inside `tf.summary.record_if(True)`.


def confusion_counts(model, batches, num_classes):
    """The confusion matrix of `model` on `batches`, as counts: true labels on rows, predictions on columns."""
    true_labels, predicted_labels = [], []
    for images, labels in batches:
        # training=False: dropout off, as Keras' own validation measures the model.
        predicted_labels.append(np.argmax(model(images, training=False), axis=1))
        true_labels.append(labels.numpy())
    return utils.get_confusion_matrix(np.concatenate(true_labels), np.concatenate(predicted_labels), num_classes)


class ConfusionMatrixCallback(keras.callbacks.Callback):
    """At the end of every epoch, logs the validation slice's confusion matrix as an image into `validation_dir`."""

    def __init__(self, validation_dir, validation_batches, class_names):
        super().__init__()
        self.validation_dir = str(validation_dir)
        self.validation_batches = validation_batches
        self.class_names = class_names
        self.writer = None
        self.counts = None  # the last epoch's matrix, as counts

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(self.validation_dir)

    def on_epoch_end(self, epoch, logs=None):
        self.counts = confusion_counts(self.model, self.validation_batches, len(self.class_names))
        figure = utils.plot_confusion_matrix(self.counts, self.class_names)
        # step=epoch: the number Keras gives on_epoch_end (0, 1, ...), the step of its `epoch_*` scalars, so that
        # the image lines up with the validation curves. record_if(True): Keras' callback leaves its "every N
        # batches" condition in force at the end of an epoch, which could otherwise skip the image.
        with self.writer.as_default(), tf.summary.record_if(True):
            tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=epoch)
        # Written to disk now, so that a TensorBoard watching the run shows it while training goes on.
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()


# ## The model, with a learning-rate schedule
#
# The starter's CNN, compiled for `model.fit`. With a schedule, Keras' callback logs the learning rate reached
# each epoch as `epoch_learning_rate` (it logs the optimizer's learning rate, schedule or not): nothing of ours
# is needed for that curve.


def compile_cnn(dataset, total_steps):
    """The starter's CNN, compiled with Adam on a cosine learning-rate schedule over `total_steps` steps."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=total_steps, alpha=0.1)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule), loss=starter.make_loss(), metrics=["accuracy"]
    )
    return model


# ## Training with both callbacks
#
# Both callbacks go to one `model.fit`. Its `validation_data`, which it measures each epoch (and which
# EarlyStopping or a checkpoint could watch), is a slice held out of the TRAINING data; the test split waits for
# the end.


def train(model, run_dir, train_batches, validation_batches, epochs, class_names):
    """Trains `model` with Keras' TensorBoard callback and ours; returns the last epoch's confusion counts."""
    update_freq = batch_logging_interval(len(train_batches))
    print(
        f"Batch-level scalars with update_freq={update_freq}: {len(train_batches) // update_freq} points for the "
        f"{len(train_batches)} batches of each epoch."
    )
    tensorboard_callback = keras.callbacks.TensorBoard(log_dir=str(run_dir), update_freq=update_freq)
    confusion_callback = ConfusionMatrixCallback(run_dir / "validation", validation_batches, class_names)
    # shuffle=False: the training pipeline shuffles itself, and Keras ignores (and warns about) this flag for a
    # tf.data.Dataset.
    model.fit(
        train_batches,
        validation_data=validation_batches,
        epochs=epochs,
        callbacks=[tensorboard_callback, confusion_callback],
        shuffle=False,
    )
    return confusion_callback.counts


# ## After training: the last matrix in numbers, and the test split once
#
# The last confusion matrix's diagonal is each class's accuracy on the validation slice. The test split is
# measured once, with no callback: it logs nothing, and nothing above looked at it.


def print_per_class_accuracy(counts, class_names):
    print("Per-class accuracy on the validation slice after the last epoch (the last confusion matrix's diagonal):")
    for name, right, total in zip(class_names, np.diag(counts), counts.sum(axis=1), strict=True):
        print(f"  {name:>12}: {right / max(total, 1):.4f} of {total} validation images")


def print_test_result(model, test_batches):
    test_loss, test_accuracy = model.evaluate(test_batches, verbose=0)
    print(f"Test split, measured once after training: loss {test_loss:.4f}, accuracy {test_accuracy:.4f}")


# ## Run the lesson
#
# The closing lines say where to look. Two tabs need a click. The Graphs tab first looks for an op graph, and
# shows "Malformed GraphDef" where Keras 3 wrote only its conceptual graph. The Images tab draws the matrix too
# small to read its numbers until "Show actual image size" is ticked.


def make_parser():
    return plumbing.make_parser(
        "Train with model.fit: batch-level curves from keras.callbacks.TensorBoard, and a confusion matrix of the "
        "validation slice every epoch from a callback of your own."
    )


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    training_part, validation_part = starter.hold_out_validation(dataset)
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_batches = starter.train_pipeline(training_part, args.batch_size)
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)

    model = compile_cnn(dataset, total_steps=args.epochs * len(train_batches))
    counts = train(model, run_dir, train_batches, validation_batches, args.epochs, dataset.class_names)
    print_per_class_accuracy(counts, dataset.class_names)
    print_test_result(model, starter.test_pipeline(dataset, args.batch_size))
    # TensorBoard keeps 10 images per tag by default: more than 10 epochs need this flag to show every one.
    plumbing.print_view_command(run_dir, "Scalars", extra_flags="--samples_per_plugin images=1000")
    print(
        f'In the Graphs tab, choose "Conceptual graph" (Keras 3 writes no op graph), then double-click "{model.name}".'
    )
    print('In the Images tab, tick "Show actual image size" to read the numbers of the confusion matrix.')


if __name__ == "__main__":
    ctrl_c.run(main)
