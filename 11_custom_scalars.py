"""
Title: Custom Scalars: charts laid out by you, including a margin chart
Description: A custom-scalars layout, written once, that groups the scalars of a custom loop into your own charts.

TensorBoard tab: Custom Scalars. Category "Train vs test": one chart per metric, `loss` and `accuracy`, each
with the `train` and the `test` run. Category "Training batches": a margin chart, the epoch's mean training
loss as a line in a band from its lowest to its highest batch loss. The Scalars tab has the same numbers as
separate charts; it has no band.
Run it:   python 11_custom_scalars.py        (or --quick for a smoke test; --quick --epochs 5 for a band)
View it:  tensorboard --logdir logs/11_custom_scalars
Time on a 2-core CPU: about 12 s with --quick (15 s for the default 5 epochs of digits);
about 10 minutes for 5 epochs of CIFAR-10 (estimated at 117 s an epoch, see the README).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import keras
import tensorflow as tf
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

import plumbing
import starter

LESSON = "11_custom_scalars"  # its logs go to <logdir>/11_custom_scalars/

# The tags the loop logs and the layout names, in one place, so that a chart can't point at a tag that
# is never written (the dashboard would show an empty chart, without an error).
LOSS = "loss"
ACCURACY = "accuracy"
LOWEST_BATCH_LOSS = "batch_loss/lowest"
HIGHEST_BATCH_LOSS = "batch_loss/highest"


def make_layout():
    """The Custom Scalars layout: categories of charts, each chart naming the tags it draws.

    A multiline chart takes regular expressions: it draws every tag that matches, in every run, so `^loss$`
    puts `loss` of `train` and of `test` in one chart (anchored, so that it does not also match
    `batch_loss/...`). A margin chart takes exact tags, and its value, lower and upper tags must all be in
    the same run and logged at the same steps.
    """
    return layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title="Train vs test",
                chart=[
                    layout_pb2.Chart(title=tag, multiline=layout_pb2.MultilineChartContent(tag=[f"^{tag}$"]))
                    for tag in (LOSS, ACCURACY)
                ],
            ),
            layout_pb2.Category(
                title="Training batches",
                chart=[
                    layout_pb2.Chart(
                        title="loss: epoch mean, lowest and highest batch",
                        margin=layout_pb2.MarginChartContent(
                            series=[
                                layout_pb2.MarginChartContent.Series(
                                    value=LOSS, lower=LOWEST_BATCH_LOSS, upper=HIGHEST_BATCH_LOSS
                                )
                            ]
                        ),
                    )
                ],
            ),
        ]
    )


def write_layout(writer, layout):
    """Writes the layout once. TF2 has no summary op for it: TensorBoard builds the summary protocol
    buffer and `write_raw_pb` writes it as it is."""
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(custom_scalar_summary.pb(layout).SerializeToString(), step=0)


def make_parser():
    parser = plumbing.make_parser("Lay out train/test charts and a batch-loss margin chart in Custom Scalars.")
    return parser


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
    # The "test" run is the held-out test split, measured each epoch to show learning; nothing is selected on it
    # (selecting an epoch or a model needs a validation slice of the training data, as in 01 and 06).
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        # One layout in one run is enough: the dashboard merges the layouts of all runs, and its charts
        # then look for their tags in every run.
        write_layout(train_writer, make_layout())
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            for metric in steps.metrics:
                metric.reset_state()
            # The bar's last line shows the epoch's mean loss and accuracy: the `train` values logged below.
            progress = starter.epoch_progbar(len(train_batches))
            batch_losses = []
            for images, labels in train_batches:
                batch_losses.append(float(steps.train_step(images, labels)))
                progress.add(1, values=starter.epoch_means(steps))
            for images, labels in test_batches:
                steps.test_step(images, labels)

            # The epoch's loss is the mean over every training example, a weighted mean of the batch
            # losses: it always lies between the lowest and the highest of them, inside the margin band.
            with train_writer.as_default():
                tf.summary.scalar(LOSS, steps.train_loss.result(), step=epoch)
                tf.summary.scalar(ACCURACY, steps.train_accuracy.result(), step=epoch)
                tf.summary.scalar(LOWEST_BATCH_LOSS, min(batch_losses), step=epoch)
                tf.summary.scalar(HIGHEST_BATCH_LOSS, max(batch_losses), step=epoch)
            with test_writer.as_default():
                tf.summary.scalar(LOSS, steps.test_loss.result(), step=epoch)
                tf.summary.scalar(ACCURACY, steps.test_accuracy.result(), step=epoch)
            print(f"  test loss {steps.test_loss.result():.4f}, test accuracy {steps.test_accuracy.result():.4f}")
    finally:
        # Closing flushes to disk, so a Ctrl-C keeps every epoch logged so far.
        train_writer.close()
        test_writer.close()
    plumbing.print_view_command(run_dir, "Custom Scalars")


if __name__ == "__main__":
    ctrl_c.run(main)
