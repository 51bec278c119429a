"""
Title: A confusion matrix on the held-out test split, every epoch
Description: Count predictions per (true, predicted) class pair, plot the matrix, and log it as an image.

TensorBoard tabs: Images (`confusion_matrix`, one per epoch: slide the step) and Scalars (loss and accuracy).
Run it:   python 04_confusion_matrix.py    (or --quick for a smoke test)
View it:  tensorboard --logdir logs/04_confusion_matrix/<run> --samples_per_plugin images=1000  (<run> is printed)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras
import numpy as np
import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "04_confusion_matrix"  # its logs go to <logdir>/04_confusion_matrix/

# ## The confusion matrix
#
# After each epoch, the model predicts every image of the held-out test split with dropout off (`test_step`),
# never training batches. The matrix counts the images of each (true, predicted) pair of classes, true classes
# on the y axis. Summing counts over all the batches and normalizing once, in the plot, weighs every test image
# equally; averaging per-batch normalized matrices would not.


def confusion_matrix_figure(steps, test_batches, class_names):
    """Evaluates the test split; returns the matrix of counts and its matplotlib figure (rows normalized)."""
    true_labels, probabilities = starter.evaluate(steps.test_step, test_batches)
    counts = utils.get_confusion_matrix(true_labels, probabilities.argmax(axis=1), len(class_names))
    return counts, utils.plot_confusion_matrix(counts, class_names)


# ## Log it as an image, with the epoch's scalars
#
# This is the TensorBoard part: the figure becomes a PNG image tensor (`utils.plot_to_image`) and
# `tf.summary.image` writes it at the epoch's step, so the Images tab's slider moves through the epochs. It goes
# to the `test` run, next to the test split's loss and accuracy. That run is watched each epoch to show
# learning; nothing is chosen by it (choosing an epoch or a model needs a validation slice, as in 01 and 06).


def log_epoch(train_writer, test_writer, steps, figure, epoch):
    with train_writer.as_default():
        tf.summary.scalar("loss", steps.train_loss.result(), step=epoch)
        tf.summary.scalar("accuracy", steps.train_accuracy.result(), step=epoch)
    with test_writer.as_default():
        tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=epoch)
        tf.summary.scalar("loss", steps.test_loss.result(), step=epoch)
        tf.summary.scalar("accuracy", steps.test_accuracy.result(), step=epoch)


# ## The training loop
#
# Train, measure, log: once per epoch. `starter.train_epoch` is a custom loop, as in `02_scalars_custom_loop.py`:
# after it, the running means hold the epoch's loss and accuracy, which its progress bar's last line shows.
# Closing the writers flushes them, so a Ctrl-C keeps every epoch logged so far.


def train_and_log(dataset, args, run_dir):
    """Trains for `args.epochs`, logging each epoch; returns the last epoch's confusion matrix of counts."""
    train_writer = tf.summary.create_file_writer(str(run_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3))
    try:
        for epoch in range(args.epochs):
            starter.train_epoch(steps, train_batches, epoch, args.epochs)
            counts, figure = confusion_matrix_figure(steps, test_batches, dataset.class_names)
            log_epoch(train_writer, test_writer, steps, figure, epoch)
            print(f"  test loss {steps.test_loss.result():.4f}, test accuracy {steps.test_accuracy.result():.4f}")
    finally:
        train_writer.close()
        test_writer.close()
    return counts


# ## What the matrix says, per class
#
# The diagonal of the row-normalized matrix is each class's accuracy: the share of its test images predicted
# correctly. Printed after the last epoch, it shows which classes the model still confuses.


def per_class_accuracy(counts):
    """The diagonal of the row-normalized matrix: the share of each true class predicted correctly."""
    totals = counts.sum(axis=1)
    return np.divide(np.diag(counts), totals, out=np.zeros(len(counts)), where=totals > 0), totals


def print_per_class_accuracy(counts, class_names):
    accuracy, totals = per_class_accuracy(counts)
    print("Per-class accuracy on the test split after the last epoch:")
    for name, class_accuracy, total in zip(class_names, accuracy, totals, strict=True):
        print(f"  {name:>12}: {class_accuracy:.4f} of {total} test images")


# ## Run the lesson
#
# `main` runs the steps and ends with the command that shows the logs. TensorBoard keeps 10 images per tag by
# default, so the command passes `--samples_per_plugin images=1000` to show every epoch's matrix.


def make_parser():
    return plumbing.make_parser("Log a confusion matrix of the test split every epoch.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    counts = train_and_log(dataset, args, run_dir)
    print_per_class_accuracy(counts, dataset.class_names)
    plumbing.print_view_command(run_dir, "Images", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
