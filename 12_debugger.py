"""
Title: Debugger V2: find the op that first produced Inf or NaN
Description: `tf.debugging.experimental.enable_dump_debug_info` records a training run that goes wrong on purpose.

TensorBoard tab: Debugger V2 (choose it in the INACTIVE menu at the top right, then click the "NaN/∞" alert).
Run it:   python 12_debugger.py             (or --quick; --learning-rate 0.001 to watch the loss stay finite)
View it:  tensorboard --logdir logs/12_debugger/<run>     (the dump directory itself, which the script prints)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import contextlib
import math
import shlex

import keras
import tensorflow as tf

import plumbing
import starter

LESSON = "12_debugger"  # its logs go to <logdir>/12_debugger/

# Adam's usual rate is 0.001: a thousand times that is the deliberate mistake.
DEFAULT_LEARNING_RATE = 1.0
# The lesson needs only the steps up to the first inf: a run that stays finite stops here, its dump still small.
DEFAULT_MAX_STEPS = 20

# ## Recording every op: the debug dump
#
# `tf.debugging.experimental.enable_dump_debug_info(dump_dir, ...)` is the one call this lesson teaches: from
# then on, TensorFlow records every op it runs into `dump_dir`, until `disable_dump_debug_info()` closes the
# dump's files. Debugger V2 reads that directory.
#
# - `tensor_debug_mode="FULL_HEALTH"` keeps, for each op's output, a small summary (its size, and how many
#   elements are -inf, +inf, NaN, negative, zero and positive), not the tensor itself: enough to see where
#   the first inf came from.
# - `circular_buffer_size=-1` keeps every op, instead of only the last 1,000.
#
# Most of a dump is a copy of the source files on the ops' stack traces, for the Debugger's source view; each
# training step adds a little, which is why the script stops early (figures: docs/tabs.md, "Debugger V2").


@contextlib.contextmanager
def debug_dump(dump_dir):
    """Records every op TensorFlow runs inside the `with` block into `dump_dir`, for Debugger V2."""
    tf.debugging.experimental.enable_dump_debug_info(
        str(dump_dir), tensor_debug_mode="FULL_HEALTH", circular_buffer_size=-1
    )
    try:
        yield
    finally:
        # Closes the dump's files, writing out what is still buffered: also on Ctrl-C or an error.
        tf.debugging.experimental.disable_dump_debug_info()


# ## The bug: a loss written by hand
#
# Cross-entropy as a textbook writes it is the mean of -log(probability of the true class). In float32, softmax
# rounds a probability below about 1e-45 to exactly 0, and log(0) is -inf. A learning rate of 1.0, a thousand
# times Adam's usual 0.001, makes the model so sure of a wrong class after a step or two that the true class's
# probability rounds to 0. `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, which the starter
# uses, computes log(softmax) in one stable step and never takes the log of 0.


def naive_cross_entropy(labels, logits):
    """The mean of -log(probability of the true class): the bug of the lesson."""
    probabilities = tf.nn.softmax(logits)
    true_class_probability = tf.gather(probabilities, labels, batch_dims=1)
    return -tf.reduce_mean(tf.math.log(true_class_probability))


def make_naive_train_step(model, optimizer):
    """A compiled training step like the starter's, but with the hand-written loss."""

    @tf.function(input_signature=starter.batch_signature(model))
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = naive_cross_entropy(labels, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    return train_step


# ## Training until the loss is not finite
#
# Once a loss is inf or NaN, so are the gradients, and every weight they touch is ruined: the loop stops right
# there, so that the dump is short and its last step is the one that went wrong. A run that stays finite stops
# after `--max-steps` steps. The progress bar shows each step's own loss, not a mean since the epoch began: the
# lesson is about the one step that goes wrong. Nothing is logged as scalars: the Debugger reads the dump.


def train_until_not_finite(train_step, train_batches, epochs, steps_per_epoch, max_steps):
    """Trains until a batch's loss is inf or NaN, or for `epochs` epochs but at most `max_steps` steps.

    Returns:
        (bad step, loss, steps run): the 1-based number of the training step whose loss was not finite
        and that loss, or (None, the last loss, steps run) when every step stayed finite.
    """
    step = 0
    loss = float("nan")
    for epoch in range(epochs):
        print(f"Epoch {epoch + 1}/{epochs}")
        progress = keras.utils.Progbar(steps_per_epoch, stateful_metrics=("loss",))
        for images, labels in train_batches:
            step += 1
            loss = float(train_step(images, labels))
            progress.add(1, values=[("loss", loss)])
            if not math.isfinite(loss):
                print()
                return step, loss, step
            if step == max_steps:
                print()
                return None, loss, step
    return None, loss, step


def note_max_steps(max_steps, epochs, steps_per_epoch):
    """Says in one line when `--max-steps` ends training before `--epochs` would."""
    if max_steps < epochs * steps_per_epoch:
        print(
            f"Note: --max-steps {max_steps} stops training after at most {max_steps} of the "
            f"{epochs * steps_per_epoch} steps of --epochs {epochs} ({steps_per_epoch} batches an epoch)."
        )


# ## What went wrong, and where to look
#
# The script says at which step the loss stopped being finite, then how to serve the dump. Debugger V2 reads
# only the root of `--logdir`, so the command names the dump directory itself: `tensorboard --logdir logs` does
# not show it. The tab is not in the top bar: TensorBoard lists it in the INACTIVE menu at the top right. Its
# Alerts list counts the ops whose output held -inf, +inf or NaN; the first is the `Log` of the hand-written
# loss. Click it to see the tensor's health, the op in the graph-execution timeline, and the line of this script
# that created it.


def print_outcome(bad_step, loss, steps_run):
    """Says at which step the loss stopped being finite, or that it never did."""
    if bad_step is None:
        print(
            f"The loss stayed finite for all {steps_run} steps (last loss {loss:.4f}): "
            "Debugger V2 will show no alerts. Use a larger --learning-rate to make training fail."
        )
    else:
        print(f"The loss of training step {bad_step} is {loss}: training stopped there.")


def print_dump_view_command(dump_dir):
    """Prints where the dump is, the command that serves it, and where Debugger V2 is on the page."""
    print(f"\nLogs written to {dump_dir}")
    # Quoted for the shell, as plumbing.print_view_command quotes the other scripts' commands.
    print(f"View them:  tensorboard --logdir {shlex.quote(str(dump_dir))}")
    print("Then open http://localhost:6006 and the Debugger V2 tab, from the INACTIVE menu at the top right.")
    print('In Debugger V2, click the "NaN/∞" alert: it leads to the first op that made an inf, Log:0.')


# ## Run the lesson
#
# Everything that is not the training is built before the dump starts, so that the dump holds only the
# training. That is the model's and the optimizer's variables (Keras creates the optimizer's lazily, hence the
# explicit `build`), and the input pipeline and its length (`len()` of a dataset runs an op too). `train_step` is
# traced, and so instrumented, on its first call, inside the dump.


def make_parser():
    parser = plumbing.make_parser("Record a training run that produces Inf/NaN for Debugger V2.")
    parser.add_argument(
        "--learning-rate",
        type=plumbing.positive_float,
        default=DEFAULT_LEARNING_RATE,
        help=f"Adam's learning rate (default: {DEFAULT_LEARNING_RATE:g}, far too large on purpose; try 0.001)",
    )
    parser.add_argument(
        "--max-steps",
        type=plumbing.positive_int,
        default=DEFAULT_MAX_STEPS,
        help=f"stop after this many training steps even if the loss stays finite (default: {DEFAULT_MAX_STEPS}; "
        "the dump grows by about 80 KB per step)",
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    dump_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    steps_per_epoch = len(train_batches)
    note_max_steps(args.max_steps, args.epochs, steps_per_epoch)

    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=args.learning_rate)
    optimizer.build(model.trainable_variables)
    train_step = make_naive_train_step(model, optimizer)
    with debug_dump(dump_dir):
        bad_step, loss, steps_run = train_until_not_finite(
            train_step, train_batches, args.epochs, steps_per_epoch, args.max_steps
        )
    print_outcome(bad_step, loss, steps_run)
    print_dump_view_command(dump_dir)


if __name__ == "__main__":
    ctrl_c.run(main)
