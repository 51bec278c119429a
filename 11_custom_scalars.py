"""
Title: Custom Scalars: charts laid out by you, including a margin chart
Description: A layout, written once, groups the scalars of a custom loop into charts of your own, one of them a band.

TensorBoard tab: Custom Scalars ("Train vs test": `loss` and `accuracy` of both runs; "Training batches": a band).
Run it:   python 11_custom_scalars.py        (or --quick for a smoke test; --quick --epochs 5 for a band)
View it:  tensorboard --logdir logs/11_custom_scalars/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras
import tensorflow as tf
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

import plumbing
import starter

LESSON = "11_custom_scalars"  # its logs go to <logdir>/11_custom_scalars/

# ## The tags
#
# The Scalars tab draws one chart per tag. Custom Scalars draws the charts you describe in a *layout*: which
# tags go into one chart, from which runs, and how. This lesson's training loop logs four scalars each epoch:
# the `loss` and `accuracy` of the `train` and the `test` run, and, in `train` only, the lowest and the highest
# loss of any batch in the epoch.
#
# A chart that names a tag nobody writes stays empty, without an error, so the tags are named once, here, and
# both the layout and the loop use these names.

LOSS = "loss"
ACCURACY = "accuracy"
LOWEST_BATCH_LOSS = "batch_loss/lowest"
HIGHEST_BATCH_LOSS = "batch_loss/highest"

# ## The layout
#
# A layout (`layout_pb2.Layout`) is a list of categories, each a list of charts. Two kinds of chart:
#
# - A *multiline* chart takes regular expressions and draws every tag that matches, in every run: `^loss$`
#   puts `loss` of `train` and of `test` in one chart. It is anchored, so that it does not match
#   `batch_loss/lowest` as well.
# - A *margin* chart draws a value as a line in a band from a lower to an upper value. It takes exact tags, which
#   must all be in one run and logged at the same steps: here, the epoch's mean training loss between the
#   lowest and the highest batch loss of that epoch.


def make_layout():
    """The Custom Scalars layout: a "Train vs test" chart per metric, and a margin chart of the batch losses."""
    train_vs_test = layout_pb2.Category(
        title="Train vs test",
        chart=[
            layout_pb2.Chart(title=tag, multiline=layout_pb2.MultilineChartContent(tag=[f"^{tag}$"]))
            for tag in (LOSS, ACCURACY)
        ],
    )
    loss_band = layout_pb2.MarginChartContent.Series(value=LOSS, lower=LOWEST_BATCH_LOSS, upper=HIGHEST_BATCH_LOSS)
    training_batches = layout_pb2.Category(
        title="Training batches",
        chart=[
            layout_pb2.Chart(
                title="loss: epoch mean, lowest and highest batch",
                margin=layout_pb2.MarginChartContent(series=[loss_band]),
            )
        ],
    )
    return layout_pb2.Layout(category=[train_vs_test, training_batches])


# ## Writing the layout
#
# TF2 has no summary op for a layout. TensorBoard's own `custom_scalar.summary.pb` builds the summary protocol
# buffer, and `tf.summary.experimental.write_raw_pb` writes it into an event file as it is. Once, into one run,
# is enough: the dashboard merges the layouts of all runs, and then looks for each chart's tags in every run.


def write_layout(writer, layout):
    """Writes `layout` once, at step 0, with `writer`."""
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(custom_scalar_summary.pb(layout).SerializeToString(), step=0)


# ## Training, and the scalars the charts draw
#
# The starter's CNN and its compiled steps train for one epoch; the loop keeps each batch's loss, then runs the
# held-out test split. The `test` run is measured each epoch to show learning; nothing is selected on it
# (selecting an epoch or a model needs a validation slice of the training data, as in 01 and 06).


def train_and_test_one_epoch(steps, train_batches, test_batches):
    """Trains one epoch and measures the test split; returns the loss of every training batch."""
    # The epoch written out, as it keeps each batch's loss (starter.train_epoch does the rest the same way).
    for metric in steps.metrics:
        metric.reset_state()
    progress = starter.epoch_progbar(len(train_batches))
    batch_losses = []
    for images, labels in train_batches:
        batch_losses.append(float(steps.train_step(images, labels)))
        progress.add(1, values=starter.epoch_means(steps))
    for images, labels in test_batches:
        steps.test_step(images, labels)
    print(f"  test loss {steps.test_loss.result():.4f}, test accuracy {steps.test_accuracy.result():.4f}")
    return batch_losses


# Each epoch, the four tags the layout names, at step `epoch`. The epoch's loss is the mean over every training
# example, a weighted mean of the batch losses: it always lies between the lowest and the highest of them, inside
# the margin chart's band.


def log_epoch(train_writer, test_writer, steps, batch_losses, epoch):
    """Logs the epoch's scalars: the `train` and `test` metrics, and the band of training batch losses."""
    with train_writer.as_default():
        tf.summary.scalar(LOSS, steps.train_loss.result(), step=epoch)
        tf.summary.scalar(ACCURACY, steps.train_accuracy.result(), step=epoch)
        tf.summary.scalar(LOWEST_BATCH_LOSS, min(batch_losses), step=epoch)
        tf.summary.scalar(HIGHEST_BATCH_LOSS, max(batch_losses), step=epoch)
    with test_writer.as_default():
        tf.summary.scalar(LOSS, steps.test_loss.result(), step=epoch)
        tf.summary.scalar(ACCURACY, steps.test_accuracy.result(), step=epoch)


# ## Run the lesson
#
# One writer per run (`train` and `test`), the layout into `train`, then an epoch at a time: train, test, log.
# A single epoch (`--quick`) draws one point per chart: give `--epochs 5` to see curves, and the band around
# the mean loss.


def make_parser():
    return plumbing.make_parser("Lay out train/test charts and a batch-loss margin chart in Custom Scalars.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3))

    train_writer = tf.summary.create_file_writer(str(run_dir / "train"))
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        write_layout(train_writer, make_layout())
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            batch_losses = train_and_test_one_epoch(steps, train_batches, test_batches)
            log_epoch(train_writer, test_writer, steps, batch_losses, epoch)
    finally:
        # Closing flushes to disk, so a Ctrl-C keeps every epoch logged so far.
        train_writer.close()
        test_writer.close()
    plumbing.print_view_command(run_dir, "Custom Scalars")


if __name__ == "__main__":
    ctrl_c.run(main)
