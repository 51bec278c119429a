"""
Title: A confusion matrix on the held-out test split, every epoch
Description: Count predictions per (true, predicted) class pair, plot the matrix, and log it as an image.

TensorBoard tabs: Images (`confusion_matrix` in the `test` run: slide the step to watch it sharpen
epoch by epoch; true labels on the y axis, each row sums to 1) and Scalars (`loss` and `accuracy` of the
`train` and `test` runs).
Run it:   python 04_confusion_matrix.py    (or --quick for a smoke test)
View it:  tensorboard --logdir logs/04_confusion_matrix --samples_per_plugin images=1000
Time on a 2-core CPU: about 14 s with --quick (18 s for the default 5 epochs of digits);
about 10 minutes for 5 epochs of CIFAR-10 (estimated at 117 s an epoch, see the README).
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

LESSON = "04_confusion_matrix"  # its logs go to <logdir>/04_confusion_matrix/


def per_class_accuracy(counts):
    """The diagonal of the row-normalized matrix: the share of each true class predicted correctly."""
    totals = counts.sum(axis=1)
    return np.divide(np.diag(counts), totals, out=np.zeros(len(counts)), where=totals > 0), totals


def make_parser():
    return plumbing.make_parser("Log a confusion matrix of the test split every epoch.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    num_classes = len(dataset.class_names)

    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    model = starter.build_cnn(dataset.image_shape, num_classes)
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3))

    train_writer = tf.summary.create_file_writer(str(run_dir / "train"))
    # The "test" run is the held-out test split, measured each epoch to show learning; nothing is selected on it
    # (selecting an epoch or a model needs a validation slice of the training data, as in 01 and 06).
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            for metric in steps.metrics:
                metric.reset_state()
            # len(): the pipeline's number of batches (known here: the data's size is known).
            progress = starter.epoch_progbar(len(train_batches))
            for images, labels in train_batches:
                steps.train_step(images, labels)
                # The epoch's running means: the bar's last line shows the loss and accuracy logged below.
                progress.add(1, values=starter.epoch_means(steps))

            # After each epoch, the matrix is measured on the held-out split with dropout off (test_step),
            # never on training batches. Summing COUNTS and normalizing once weighs every test image
            # equally; averaging per-batch normalized matrices would not.
            true_labels, probabilities = starter.evaluate(steps.test_step, test_batches)
            counts = utils.get_confusion_matrix(true_labels, probabilities.argmax(axis=1), num_classes)
            figure = utils.plot_confusion_matrix(counts, dataset.class_names)
            with train_writer.as_default():
                tf.summary.scalar("loss", steps.train_loss.result(), step=epoch)
                tf.summary.scalar("accuracy", steps.train_accuracy.result(), step=epoch)
            with test_writer.as_default():
                tf.summary.scalar("loss", steps.test_loss.result(), step=epoch)
                tf.summary.scalar("accuracy", steps.test_accuracy.result(), step=epoch)
                tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=epoch)
            print(f"  test loss {steps.test_loss.result():.4f}, test accuracy {steps.test_accuracy.result():.4f}")
    finally:
        train_writer.close()
        test_writer.close()

    accuracy, totals = per_class_accuracy(counts)
    print("Per-class accuracy on the test split after the last epoch:")
    for name, class_accuracy, total in zip(dataset.class_names, accuracy, totals, strict=True):
        print(f"  {name:>12}: {class_accuracy:.4f} of {total} test images")
    # TensorBoard keeps 10 images per tag by default: more than 10 epochs need this flag to show every one.
    plumbing.print_view_command(run_dir, "Images", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
