"""
Title: Precision-recall curves, one per class, on the held-out test split every epoch
Description: TF2 has no PR-curve op: build the summary with TensorBoard's `pr_curve.summary.pb`, write it raw.

TensorBoard tab: PR Curves. One chart per class (`airplane/pr_curves`, ... or `0/pr_curves`, ... on digits):
that class against all the others, measured on the held-out test split after each epoch; drag the step
slider to watch the curves move up and to the right as the model learns. Hover a curve for the threshold,
precision, recall and counts at each point.
Run it:   python 10_pr_curves.py     (or --quick for a smoke test; --num-thresholds N for finer curves)
View it:  tensorboard --logdir logs/10_pr_curves
Time on a 2-core CPU: about 14 s with --quick (15 s for the default 5 epochs of digits);
about 10 minutes for 5 epochs of CIFAR-10 (estimated at 117 s an epoch, see the README).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import argparse

import keras
import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "10_pr_curves"  # its logs go to <logdir>/10_pr_curves/

LEARNING_RATE = 1e-3
DEFAULT_NUM_THRESHOLDS = 201


def num_thresholds(text):
    """argparse type for --num-thresholds: a whole number of at least 2, the two ends of a curve."""
    value = plumbing.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a curve needs at least 2 thresholds, got {value}")
    return value


def make_parser():
    parser = plumbing.make_parser("Log one precision-recall curve per class on the test split every epoch.")
    parser.add_argument(
        "--num-thresholds",
        type=num_thresholds,
        default=DEFAULT_NUM_THRESHOLDS,
        help=f"points on each curve, thresholds evenly spaced in [0, 1] (default: {DEFAULT_NUM_THRESHOLDS})",
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=LEARNING_RATE))
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)

    # The curves describe the held-out split, so their run is called "test"; they show learning, and nothing is
    # selected on them (selecting needs a validation slice of the training data, as in 01 and 06).
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            for metric in steps.metrics:
                metric.reset_state()
            # The bar shows the epoch's running mean loss and accuracy, not the last batch's.
            progress = starter.epoch_progbar(len(train_batches))
            for images, labels in train_batches:
                steps.train_step(images, labels)
                progress.add(1, values=starter.epoch_means(steps))

            true_labels, probabilities = starter.evaluate(steps.test_step, test_batches)
            summaries = utils.pr_curve_summaries(
                true_labels, probabilities, dataset.class_names, num_thresholds=args.num_thresholds
            )
            # There is no tf.summary.pr_curve: write_raw_pb writes a ready-made Summary proto into the
            # default writer at this step, exactly as a summary op would.
            with test_writer.as_default():
                for summary in summaries:
                    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=epoch)
            print(f"  test accuracy {steps.test_accuracy.result():.4f}; {len(summaries)} PR curves logged")
    finally:
        # Closing flushes to disk, so a Ctrl-C keeps every epoch logged so far.
        test_writer.close()

    plumbing.print_view_command(run_dir, "PR Curves")


if __name__ == "__main__":
    ctrl_c.run(main)
