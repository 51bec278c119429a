"""
Title: Precision-recall curves, one per class, on the held-out test split every epoch
Description: TF2 has no PR-curve op: build the summary with TensorBoard's `pr_curve.summary.pb`, write it raw.

TensorBoard tab: PR Curves. One chart per class (`airplane/pr_curves`, ... or `0/pr_curves`, ... on digits);
drag the step slider to watch the curves move up and to the right as the model learns.
Run it:   python 10_pr_curves.py     (or --quick for a smoke test; --num-thresholds N for finer curves)
View it:  tensorboard --logdir logs/10_pr_curves/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import argparse

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.pr_curve import summary as pr_curve_summary

import plumbing
import starter

LESSON = "10_pr_curves"  # its logs go to <logdir>/10_pr_curves/

LEARNING_RATE = 1e-3
DEFAULT_NUM_THRESHOLDS = 201

# ## One precision-recall curve per class: the piece to copy
#
# This is the crucial piece. TensorFlow 2 has no `tf.summary.pr_curve`, so each curve is built with
# TensorBoard's own `pr_curve.summary.pb(tag, labels, predictions, num_thresholds)`: a ready-made Summary proto
# that holds, at each of `num_thresholds` thresholds evenly spaced in [0, 1], the true and false positives, the
# true and false negatives, precision and recall. A multi-class model gets one curve per class, that class
# against all the others: an example counts as predicted positive for a class when its probability of that
# class is at least the threshold (as in scikit-learn's `precision_recall_curve`). Where nothing is predicted
# positive, precision is stored as 0. The predictions must be probabilities (a softmax), not logits.


def pr_curve_summaries(true_labels, probabilities, class_names, num_thresholds=201):
    """One PR-curve summary per class, tagged "<class name>/pr_curves", in class order.

    Args:
        true_labels: N integer class indices.
        probabilities: an (N, num_classes) array of predicted class probabilities in [0, 1].
        class_names: the name of each class index.
        num_thresholds: how many thresholds each curve is measured at (at least 2).

    Returns:
        A list of `summary_pb2.Summary` protos; write each with `tf.summary.experimental.write_raw_pb`.
    """
    true_labels = np.asarray(true_labels, dtype=np.int64).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float32)
    expected_shape = (len(true_labels), len(class_names))
    if probabilities.shape != expected_shape:
        raise ValueError(
            f"probabilities must have shape (examples, classes) = {expected_shape}, got {probabilities.shape}"
        )
    # A little rounding above 1 is normal for a float32 softmax; anything further out means logits.
    if probabilities.size and (probabilities.min() < -1e-5 or probabilities.max() > 1 + 1e-5):
        raise ValueError("probabilities must lie in [0, 1]: pass the softmax of the logits, not the logits")
    probabilities = np.clip(probabilities, 0.0, 1.0)
    return [
        pr_curve_summary.pb(
            name,
            labels=true_labels == class_index,
            predictions=probabilities[:, class_index],
            num_thresholds=num_thresholds,
            description=f"Class {name!r} against all other classes.",
        )
        for class_index, name in enumerate(class_names)
    ]


# ## Writing the curves every epoch
#
# `tf.summary.experimental.write_raw_pb` writes a ready-made Summary proto into the default writer at a step,
# exactly as a summary op would. After each epoch the model predicts every held-out test image and the curves
# are written at that epoch's step. They describe the held-out split, so their run is called `test`; they
# show learning, and nothing is selected on them (selecting needs a validation slice of the training data, as
# in 01 and 06). Closing the writer in `finally` keeps every epoch logged so far when Ctrl-C stops the run.


def train_and_log_pr_curves(dataset, args, test_writer):
    """Trains a fresh CNN for `args.epochs` epochs, logging one PR curve per class after each epoch."""
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=LEARNING_RATE))
    for epoch in range(args.epochs):
        starter.train_epoch(steps, train_batches, epoch, args.epochs)
        true_labels, probabilities = starter.evaluate(steps.test_step, test_batches)
        summaries = pr_curve_summaries(true_labels, probabilities, dataset.class_names, args.num_thresholds)
        with test_writer.as_default():
            for summary in summaries:
                tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=epoch)
        print(f"  test accuracy {steps.test_accuracy.result():.4f}; {len(summaries)} PR curves logged")


# ## The flags
#
# `--num-thresholds` sets the points on each curve: more give a finer curve and a larger event file (six
# float32 numbers per threshold, per class, per epoch).


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


# ## Run the lesson
#
# `main` reads the flags, loads the data, makes a new run directory with its `test` writer, trains while
# logging the curves, and prints the command that shows them.


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    test_writer = tf.summary.create_file_writer(str(run_dir / "test"))
    try:
        train_and_log_pr_curves(dataset, args, test_writer)
    finally:
        test_writer.close()
    plumbing.print_view_command(run_dir, "PR Curves")


if __name__ == "__main__":
    ctrl_c.run(main)
