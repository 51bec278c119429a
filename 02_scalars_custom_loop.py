"""
Title: Scalars from a custom training loop, and a learning-rate sweep
Description: `tf.summary.scalar` with one writer per split, then one run per learning rate to compare.

TensorBoard tab: Scalars. Part 1 (`run/train`, `run/test`): the epoch-mean loss and accuracy of the
training data and of the held-out test split, overlaid. Part 2 (`run/lr_<rate>/train`): the loss of
every training batch for each learning rate, overlaid on one chart; `run/lr_<rate>/test` holds the
test accuracy reached.
Run it:   python 02_scalars_custom_loop.py     (or --quick; --learning-rates 0.01 0.001 to choose rates)
View it:  tensorboard --logdir logs/02_scalars_custom_loop
Time on a 2-core CPU: about 15 s with --quick; about 10 minutes with CIFAR-10 (5 epochs, then 5 rates).
"""

import tensorflow as tf

import starter

DEFAULT_LEARNING_RATES = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)


def train_with_epoch_scalars(dataset, batches, args, run_dir):
    """Part 1: the epoch-mean train and test loss and accuracy, one writer per split."""
    loop = starter.make_custom_loop(dataset)

    # Two writers, two run directories: TensorBoard overlays "train" and "test" in the same chart
    # because they log the same tags.
    train_writer = tf.summary.create_file_writer(str(run_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            loop.reset_metrics()
            starter.train_epoch(loop.train_step, batches.train, batches.steps_per_epoch)
            starter.evaluate(loop.test_step, batches.test)
            # The metrics hold means over the whole epoch, not the last batch's value.
            with train_writer.as_default():
                tf.summary.scalar("loss", loop.train_loss.result(), step=epoch)
                tf.summary.scalar("accuracy", loop.train_accuracy.result(), step=epoch)
            with test_writer.as_default():
                tf.summary.scalar("loss", loop.test_loss.result(), step=epoch)
                tf.summary.scalar("accuracy", loop.test_accuracy.result(), step=epoch)
            print(f"  test loss {loop.test_loss.result():.4f}, test accuracy {loop.test_accuracy.result():.4f}")
    finally:
        # Closing flushes to disk, so a Ctrl-C keeps every epoch logged so far.
        train_writer.close()
        test_writer.close()


def train_at_learning_rate(dataset, batches, args, rate_dir, learning_rate):
    """Trains a fresh model at one learning rate, logging the loss of every batch; returns test accuracy."""
    loop = starter.make_custom_loop(dataset, learning_rate=learning_rate)

    train_writer = tf.summary.create_file_writer(str(rate_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(rate_dir / "test"))

    def log_batch_loss(loss):
        # The optimizer counts the batches it has applied: a global step that runs across epochs.
        with train_writer.as_default():
            tf.summary.scalar("batch_loss", loss, step=loop.optimizer.iterations)

    try:
        for _ in range(args.epochs):
            starter.train_epoch(loop.train_step, batches.train, batches.steps_per_epoch, on_batch=log_batch_loss)
        starter.evaluate(loop.test_step, batches.test)
        with test_writer.as_default():
            tf.summary.scalar("accuracy", loop.test_accuracy.result(), step=args.epochs)
    finally:
        train_writer.close()
        test_writer.close()
    return float(loop.test_accuracy.result())


def learning_rate_sweep(dataset, batches, args, run_dir):
    """Part 2: the same model trained once per learning rate, the batch loss logged at a global step."""
    for learning_rate in args.learning_rates:
        print(f"Learning rate {learning_rate:g}")
        # Each rate is its own run, so the runs overlay in one chart and can be toggled one by one.
        accuracy = train_at_learning_rate(dataset, batches, args, run_dir / f"lr_{learning_rate:g}", learning_rate)
        print(f"  test accuracy {accuracy:.4f}")


def main():
    parser = starter.make_parser("Log scalars from a custom training loop, then sweep learning rates.")
    parser.add_argument(
        "--learning-rates",
        type=starter.positive_float,
        nargs="+",
        default=DEFAULT_LEARNING_RATES,
        help="the rates of the sweep (default: 0.1 0.01 0.001 0.0001 0.00001)",
    )
    args = starter.parse_args(parser)
    starter.configure_gpu()
    dataset = starter.load_from_args(args)
    run_dir = starter.new_run_dir(args.logdir, __file__)

    batches = starter.make_batches(dataset, args.batch_size)
    train_with_epoch_scalars(dataset, batches, args, run_dir)
    learning_rate_sweep(dataset, batches, args, run_dir)
    starter.print_view_command(run_dir, "Scalars")


if __name__ == "__main__":
    starter.run(main)
