"""
Title: Scalars from a custom training loop, and a learning-rate sweep
Description: `tf.summary.scalar` with one writer per split, then one run per learning rate to compare.

TensorBoard tab: Scalars (`train` and `test` epoch curves; `lr_<rate>/train` batch losses, one run per rate).
Run it:   python 02_scalars_custom_loop.py     (or --quick; --learning-rates 0.01 0.001 to choose rates)
View it:  tensorboard --logdir logs/02_scalars_custom_loop/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras
import tensorflow as tf

import plumbing
import starter

LESSON = "02_scalars_custom_loop"  # its logs go to <logdir>/02_scalars_custom_loop/

DEFAULT_LEARNING_RATES = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)

# ## The model and its training steps
#
# Both parts of the lesson train the video's CNN with Adam, through the starter's compiled train and test steps.
# `make_steps` also returns running means of the loss and accuracy: reset at the start of an epoch, they hold
# that epoch's means at its end, which is what an epoch curve should show.


def new_model_and_steps(dataset, learning_rate):
    """A fresh CNN trained by Adam at `learning_rate`: the optimizer, and `starter.make_steps`'s steps and metrics."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    return optimizer, starter.make_steps(model, optimizer)


# ## Part 1: epoch scalars, one writer per split
#
# A custom loop writes its own summaries: `tf.summary.create_file_writer` opens a run, and every
# `tf.summary.scalar` inside `with writer.as_default():` goes to it. Two writers make two runs, `train` and
# `test`; they log the same tags (`loss`, `accuracy`), so TensorBoard overlays them in one chart.
#
# The scalars are written once per epoch, after it, from the running means: the mean over the whole epoch, not
# the last batch's value. The `test` curves are the held-out test split, watched each epoch to show learning;
# nothing is chosen by them (choosing needs a validation slice, as in Part 2).


def train_with_epoch_scalars(dataset, args, run_dir):
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    _, steps = new_model_and_steps(dataset, learning_rate=1e-3)
    train_writer = tf.summary.create_file_writer(str(run_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        for epoch in range(args.epochs):
            # The starter's epoch: its progress bar's last line shows what TensorBoard gets below.
            starter.train_epoch(steps, train_batches, epoch, args.epochs)
            starter.evaluate(steps.test_step, test_batches)

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


# ## Part 2: the loss of every batch, at a global step
#
# To compare learning rates, log inside the loop, after every training step. The step is `optimizer.iterations`,
# the number of batches the optimizer has applied: it keeps counting across epochs, so the curves of all the
# rates share one x axis. Each rate also gets one `final_accuracy` point, its accuracy on a validation slice
# held out of the training data: a rate is chosen on that, never on the test split. It has its own tag because
# under `accuracy` these lone points would share a chart with Part 1's epoch curves.


def train_at_learning_rate(dataset, train_batches, validation_batches, args, rate_dir, learning_rate):
    """Trains a fresh model at one learning rate, logging the loss of every batch; returns validation accuracy."""
    optimizer, steps = new_model_and_steps(dataset, learning_rate)
    train_writer = tf.summary.create_file_writer(str(rate_dir / "train"))
    validation_writer = tf.summary.create_file_writer(str(rate_dir / "validation"))
    try:
        for _ in range(args.epochs):
            # The epoch written out, as the summary is inside it (starter.train_epoch does the rest the same way).
            for metric in steps.metrics:
                metric.reset_state()
            progress = starter.epoch_progbar(len(train_batches))
            for images, labels in train_batches:
                loss = steps.train_step(images, labels)
                with train_writer.as_default():
                    tf.summary.scalar("batch_loss", loss, step=optimizer.iterations)
                progress.add(1, values=starter.epoch_means(steps))
        # make_steps' test step and metrics measure whatever batches they are given: here the validation slice.
        starter.evaluate(steps.test_step, validation_batches)
        with validation_writer.as_default():
            tf.summary.scalar("final_accuracy", steps.test_accuracy.result(), step=args.epochs)
    finally:
        train_writer.close()
        validation_writer.close()
    return float(steps.test_accuracy.result())


# ## The sweep
#
# Each rate is its own run, `lr_<rate>`, so the runs overlay in one chart and can be toggled one by one. Every
# rate starts from the same seed: the same first weights and the same batches, whatever was trained before it,
# so the runs differ by their rate alone.


def learning_rate_sweep(dataset, args, run_dir):
    training_part, validation_part = starter.hold_out_validation(dataset)
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    for learning_rate in args.learning_rates:
        print(f"Learning rate {learning_rate:g}")
        keras.utils.set_random_seed(args.seed)
        train_batches = starter.train_pipeline(training_part, args.batch_size)
        rate_dir = run_dir / f"lr_{learning_rate:g}"
        accuracy = train_at_learning_rate(dataset, train_batches, validation_batches, args, rate_dir, learning_rate)
        print(f"  validation accuracy {accuracy:.4f}")


# ## Run the lesson
#
# `main` runs both parts in order and ends with the command that shows the logs.


def distinct_rates(rates):
    """`rates` without repeats (two rates are the same when their run directories, `lr_<rate:g>`, are), in order;
    prints one line when it drops any."""
    by_name = {}
    for rate in rates:
        by_name.setdefault(f"{rate:g}", rate)
    if len(by_name) < len(rates):
        print(f"Note: --learning-rates repeats a rate: training {' '.join(by_name)} once each.")
    return list(by_name.values())


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
    args.learning_rates = distinct_rates(args.learning_rates)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_with_epoch_scalars(dataset, args, run_dir)
    learning_rate_sweep(dataset, args, run_dir)
    plumbing.print_view_command(run_dir, "Scalars", whole_curve_note=True)


if __name__ == "__main__":
    ctrl_c.run(main)
