"""
Title: Your own summaries from `model.fit`: batch-level curves and a confusion matrix every epoch
Description: Next to `keras.callbacks.TensorBoard`, a callback of your own writes an image into the same run.

TensorBoard tabs: Scalars (`batch_loss`, `batch_accuracy` every few batches at the global batch number;
`epoch_loss`, `epoch_accuracy` of the `train` and `validation` runs; `epoch_learning_rate`, the cosine
schedule), Images (`confusion_matrix` in the `validation` run, one per epoch at the step of the validation
curves: true labels on the y axis, each row sums to 1) and Time Series (all of it in one view).
The validation slice is held out of the TRAINING data; the test split is measured once, at the end.
Run it:   python 13_fit_callbacks.py      (or --quick for a smoke test)
View it:  tensorboard --logdir logs/13_fit_callbacks --samples_per_plugin images=1000
Time on a 2-core CPU: about 15 s with --quick (20 s for the default 5 epochs of digits);
about 8 minutes for 5 epochs of CIFAR-10 (40,000 training images, estimated at 117 s an epoch, see the README).
Written for Keras 3.15 (the tested version); where older Keras releases behave differently, the comments say so.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import keras
import numpy as np
import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "13_fit_callbacks"  # its logs go to <logdir>/13_fit_callbacks/

# About this many batch-level points per epoch: enough for a curve, few enough to keep the event files small.
BATCH_POINTS_PER_EPOCH = 20


def batch_logging_interval(batches_per_epoch, points_per_epoch=BATCH_POINTS_PER_EPOCH):
    """The `update_freq` to give the TensorBoard callback: the largest divisor of `batches_per_epoch` that still
    gives at least `points_per_epoch` points per epoch (so 1, every batch, for fewer than twice that many batches).

    Why a divisor: on Keras 3.15 the callback records a summary only while its global batch number is a multiple
    of `update_freq`, and that condition is still in force at the end of an epoch. When the epoch's last batch
    number is not a multiple, Keras' own `epoch_*` scalars of that epoch, and whatever a callback of yours writes
    there, are silently dropped (the same bug as tensorflow/tensorflow#49109 in tf.keras 2.x; it came back with
    keras-team/keras#22357, March 2026, which made `update_freq=N` skip batches again). Keras releases before
    that PR write every batch whatever N is, and never drop the epoch scalars.
    """
    largest = max(1, batches_per_epoch // points_per_epoch)
    return max(divisor for divisor in range(1, largest + 1) if batches_per_epoch % divisor == 0)


class ConfusionMatrixCallback(keras.callbacks.Callback):
    """At the end of every epoch, logs the validation slice's confusion matrix as an image into `validation_dir`.

    Why a callback, and not a `tf.summary.image` inside the model's `call()`: `call()` runs inside the compiled
    training step, which is traced once, so a summary there keeps the step (and, with `update_freq=N`, the
    decision to record) that held when it was traced. Measured on Keras 3.15: every such summary lands at step 1,
    and with `update_freq` above 1 none is written at all (Keras releases before keras-team/keras#20461 and #22357
    wrote them all at step 0, keras-team/keras#20143). It would also see training batches with dropout on, in
    every batch. A callback runs eagerly, between batches, where the whole validation slice and the epoch number
    are at hand.
    """

    def __init__(self, validation_dir, validation_batches, class_names):
        super().__init__()
        self.validation_dir = str(validation_dir)
        self.validation_batches = validation_batches
        self.class_names = class_names
        self.writer = None
        self.counts = None  # the last epoch's matrix, as counts

    def on_train_begin(self, logs=None):
        # A writer of our own, into the directory where Keras' callback writes its validation curves, so that the
        # image sits in the same run. Keras' writer (`_val_writer`) is private, so this is a second writer: the
        # run then holds two event files, and the tags must differ from Keras' (`epoch_*`, `evaluation_*`).
        # TensorBoard 2.21 reads both files while they grow; its older Python loader (`--load_fast=false`) polls
        # only the newest file of a run unless it is given `--reload_multifile=true`.
        self.writer = tf.summary.create_file_writer(self.validation_dir)

    def on_epoch_end(self, epoch, logs=None):
        true_labels, predicted_labels = [], []
        for images, labels in self.validation_batches:
            # training=False: dropout off, as Keras' own validation measures the model.
            logits = self.model(images, training=False)
            predicted_labels.append(np.argmax(logits, axis=1))
            true_labels.append(labels.numpy())
        self.counts = utils.get_confusion_matrix(
            np.concatenate(true_labels), np.concatenate(predicted_labels), len(self.class_names)
        )
        figure = utils.plot_confusion_matrix(self.counts, self.class_names)
        # step=epoch: the number Keras gives on_epoch_end (0, 1, ...), the step of its `epoch_*` scalars, so the
        # image lines up with the validation curves (not optimizer.iterations, the step of `evaluation_*`).
        # record_if(True): Keras' callback leaves its own "record every N batches" condition in force at the end
        # of an epoch (see batch_logging_interval); without this, the image could be silently skipped.
        with self.writer.as_default(), tf.summary.record_if(True):
            tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=epoch)
        # Written to disk now, so that a TensorBoard watching the run shows it while training goes on.
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.close()


def make_parser():
    return plumbing.make_parser(
        "Train with model.fit: batch-level curves from keras.callbacks.TensorBoard, and a confusion matrix of the "
        "validation slice every epoch from a callback of your own."
    )


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    # What fit may watch (validation_data) is held out of the training data; the test split waits for the end.
    training_part, validation_part = starter.hold_out_validation(dataset)
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    train_batches = starter.train_pipeline(training_part, args.batch_size)
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    batches_per_epoch = len(train_batches)

    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    # A schedule: Keras' callback then logs the learning rate it reached each epoch as `epoch_learning_rate`
    # (it logs the optimizer's learning rate every epoch, schedule or not), so nothing of ours is needed for it.
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=args.epochs * batches_per_epoch, alpha=0.1)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=schedule), loss=starter.make_loss(), metrics=["accuracy"]
    )

    # update_freq=N adds `batch_loss` and `batch_accuracy` every N batches, at the global batch number (1, 2, ...
    # across epochs). Their values are running means since the epoch began, as in the progress bar: each curve
    # restarts every epoch, and its last point equals `epoch_loss`. Keras releases from before November 2024 wrote
    # them all at step 0 (keras-team/keras#20143, fixed by keras-team/keras#20461 and #22357).
    update_freq = batch_logging_interval(batches_per_epoch)
    tensorboard_callback = keras.callbacks.TensorBoard(log_dir=str(run_dir), update_freq=update_freq)
    confusion_callback = ConfusionMatrixCallback(run_dir / "validation", validation_batches, dataset.class_names)

    # shuffle=False: the training pipeline shuffles itself, and Keras ignores (and warns about) this flag for a
    # tf.data.Dataset.
    model.fit(
        train_batches,
        validation_data=validation_batches,
        epochs=args.epochs,
        callbacks=[tensorboard_callback, confusion_callback],
        shuffle=False,
    )
    print(f"Batch-level scalars every {update_freq} of the {batches_per_epoch} batches of an epoch")
    print("Per-class accuracy on the validation slice after the last epoch (the last confusion matrix's diagonal):")
    counts = confusion_callback.counts
    for name, right, total in zip(dataset.class_names, np.diag(counts), counts.sum(axis=1), strict=True):
        print(f"  {name:>12}: {right / max(total, 1):.4f} of {total} validation images")
    # The test split, once, after training: nothing above looked at it. No callback here: it logs nothing.
    test_loss, test_accuracy = model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    print(f"Test split, measured once after training: loss {test_loss:.4f}, accuracy {test_accuracy:.4f}")
    # TensorBoard keeps 10 images per tag by default: more than 10 epochs need this flag to show every one.
    plumbing.print_view_command(run_dir, "Scalars (then Images)", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
