"""
Title: Scalars from a custom training loop, and a learning-rate sweep
Description: `tf.summary.scalar` with one writer per split, then one run per learning rate to compare.

TensorBoard tab: Scalars. Part 1 (`run/train`, `run/test`): the epoch-mean loss and accuracy of the
training data and of the held-out test split, overlaid. Part 2 (`run/lr_<rate>/train`): the loss of
every training batch for each learning rate, overlaid on one chart; `run/lr_<rate>/validation` holds the
accuracy each rate reached on a validation slice held out of the training data (`final_accuracy`): a rate is
chosen on that, never on the test split.
Run it:   python 02_scalars_custom_loop.py     (or --quick; --learning-rates 0.01 0.001 to choose rates)
View it:  tensorboard --logdir logs/02_scalars_custom_loop
Time on a 2-core CPU: about 26 s with --quick (35 s by default on digits); about 50 minutes
with CIFAR-10 (5 epochs, then 5 epochs at each of 5 rates; estimated at 117 s an epoch, see the README).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import keras
import tensorflow as tf

import plumbing
import starter

LESSON = "02_scalars_custom_loop"  # its logs go to <logdir>/02_scalars_custom_loop/

DEFAULT_LEARNING_RATES = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


def new_model_and_steps(dataset, learning_rate):
    """A fresh CNN trained by Adam at `learning_rate`: the optimizer, and `starter.make_steps`'s steps and metrics."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    return optimizer, starter.make_steps(model, optimizer)


def train_with_epoch_scalars(dataset, train_batches, test_batches, args, run_dir):
    """Part 1: the epoch-mean train and test loss and accuracy, one writer per split."""
    _, steps = new_model_and_steps(dataset, learning_rate=1e-3)

    # Two writers, two run directories: TensorBoard overlays "train" and "test" in the same chart
    # because they log the same tags. The "test" curves are the held-out test split, watched each epoch to
    # show learning; nothing is selected on them (no epoch, no rate): selecting needs a validation slice (01, 06).
    train_writer = tf.summary.create_file_writer(str(run_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            for metric in steps.metrics:
                metric.reset_state()
            # len() of a tf.data pipeline is its number of batches, known here because the data's size is known
            # (after a filter() it is not: then epoch_progbar(None) counts without a total).
            progress = starter.epoch_progbar(len(train_batches))
            for images, labels in train_batches:
                steps.train_step(images, labels)
                # The running means of the epoch: the bar's last line shows what TensorBoard gets below.
                progress.add(1, values=starter.epoch_means(steps))
            starter.evaluate(steps.test_step, test_batches)

            # Logged once per epoch, after the epoch: the metrics hold means over the whole epoch, not
            # the last batch's value.
            with train_writer.as_default():
                tf.summary.scalar("loss", steps.train_loss.result(), step=epoch)
                tf.summary.scalar("accuracy", steps.train_accuracy.result(), step=epoch)
            with test_writer.as_default():
                tf.summary.scalar("loss", steps.test_loss.result(), step=epoch)
                tf.summary.scalar("accuracy", steps.test_accuracy.result(), step=epoch)
            print(f"  test loss {steps.test_loss.result():.4f}, test accuracy {steps.test_accuracy.result():.4f}")
    finally:
        # Closing flushes to disk, so a Ctrl-C keeps every epoch logged so far.
        train_writer.close()
        test_writer.close()


def train_at_learning_rate(dataset, train_batches, validation_batches, args, rate_dir, learning_rate):
    """Trains a fresh model at one learning rate, logging the loss of every batch; returns validation accuracy."""
    optimizer, steps = new_model_and_steps(dataset, learning_rate)

    train_writer = tf.summary.create_file_writer(str(rate_dir / "train"))
    validation_writer = tf.summary.create_file_writer(str(rate_dir / "validation"))
    try:
        for _ in range(args.epochs):
            # Reset every epoch, so that the progress bar shows this epoch's means.
            for metric in steps.metrics:
                metric.reset_state()
            progress = starter.epoch_progbar(len(train_batches))
            for images, labels in train_batches:
                loss = steps.train_step(images, labels)
                # Logged inside the loop, after every step. The optimizer counts the batches it has
                # applied: a global step that runs across epochs, so the curves of all rates share an x axis.
                with train_writer.as_default():
                    tf.summary.scalar("batch_loss", loss, step=optimizer.iterations)
                # The bar shows the epoch's mean of these batch losses, weighted by batch size.
                progress.add(1, values=starter.epoch_means(steps))
        # make_steps' test step and metrics measure whatever batches they are given: here the validation slice.
        starter.evaluate(steps.test_step, validation_batches)
        with validation_writer.as_default():
            # Its own tag: under "accuracy" these lone points would share a chart with Part 1's epoch curves.
            tf.summary.scalar("final_accuracy", steps.test_accuracy.result(), step=args.epochs)
    finally:
        train_writer.close()
        validation_writer.close()
    return float(steps.test_accuracy.result())


def learning_rate_sweep(dataset, args, run_dir):
    """Part 2: the same model trained once per learning rate, the batch loss logged at a global step.

    Choosing a rate is selecting, so each rate is trained on the training data less a validation slice and scored
    on that slice; the test split takes no part.
    """
    training_part, validation_part = starter.hold_out_validation(dataset)
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    for learning_rate in args.learning_rates:
        print(f"Learning rate {learning_rate:g}")
        # Every rate starts from the same seed: the same first weights and the same batches, whatever rates were
        # trained before it, so the runs differ by their rate alone.
        keras.utils.set_random_seed(args.seed)
        train_batches = starter.train_pipeline(training_part, args.batch_size)
        # Each rate is its own run, so the runs overlay in one chart and can be toggled one by one.
        rate_dir = run_dir / f"lr_{learning_rate:g}"
        accuracy = train_at_learning_rate(dataset, train_batches, validation_batches, args, rate_dir, learning_rate)
        print(f"  validation accuracy {accuracy:.4f}")


def make_parser():
    parser = plumbing.make_parser("Log scalars from a custom training loop, then sweep learning rates.")
    parser.add_argument(
        "--learning-rates",
        type=plumbing.positive_float,
        nargs="+",
        default=DEFAULT_LEARNING_RATES,
        help="the rates of the sweep (default: 0.1 0.01 0.001 0.0001 0.00001)",
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    train_with_epoch_scalars(dataset, train_batches, test_batches, args, run_dir)
    learning_rate_sweep(dataset, args, run_dir)
    plumbing.print_view_command(run_dir, "Scalars")


if __name__ == "__main__":
    ctrl_c.run(main)
