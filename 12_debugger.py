"""
Title: Debugger V2: find the op that first produced Inf or NaN
Description: Training that goes wrong on purpose, recorded by `tf.debugging.experimental.enable_dump_debug_info`.

TensorBoard tab: Debugger V2. The Alerts list counts the ops whose output held -inf, +inf or NaN; the first
one is the `Log` of the hand-written loss. Click it to see the tensor's health (how many elements are
infinite), the op in the graph-execution timeline, and the line of this script that created it.
The bug, in one sentence: the loss is written by hand as -log(softmax(logits)), and a learning rate of 1.0
(a thousand times Adam's usual 0.001) makes the model so sure of a wrong class after one step that the
true class's probability rounds to exactly 0, whose log is -inf.
Run it:   python 12_debugger.py             (or --quick; --learning-rate 0.001 to watch the loss stay finite)
View it:  tensorboard --logdir logs/12_debugger/<run>    (the dump directory itself, printed at the end:
          Debugger V2 reads only the root of --logdir, so `--logdir logs` does not show it)
Time on a 2-core CPU: about 14 s, with or without --quick: it stops at the first non-finite loss.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import math
import shlex

import keras
import tensorflow as tf

import plumbing
import starter

LESSON = "12_debugger"  # its logs go to <logdir>/12_debugger/

# Adam's usual rate is 0.001: a thousand times that is the deliberate mistake.
DEFAULT_LEARNING_RATE = 1.0
# The lesson needs only the steps up to the first inf; a run that stays finite stops here, at about 9 MB.
DEFAULT_MAX_STEPS = 20


def naive_cross_entropy(labels, logits):
    """Cross-entropy as a textbook writes it: the mean of -log(probability of the true class).

    This is the bug of the lesson. In float32, softmax rounds a probability below about 1e-45 to exactly 0,
    and log(0) is -inf. `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, which the starter
    uses, computes log(softmax) in one stable step and never takes the log of 0.
    """
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


def train_until_not_finite(train_step, train_batches, epochs, steps, max_steps):
    """Trains until a batch's loss is inf or NaN, or for `epochs` epochs but at most `max_steps` steps.

    Returns:
        (bad step, loss, steps run): the 1-based number of the training step whose loss was not finite
        and that loss, or (None, the last loss, steps run) when every step stayed finite.
    """
    step = 0
    loss = float("nan")
    for epoch in range(epochs):
        print(f"Epoch {epoch + 1}/{epochs}")
        # This lesson is about the step whose loss goes wrong, so the bar shows each step's own loss as it is
        # ("stateful": not averaged with the earlier steps), the one printed when training stops. It logs no
        # epoch means: the Debugger reads the dump, not scalars.
        progress = keras.utils.Progbar(steps, stateful_metrics=("loss",))
        for images, labels in train_batches:
            step += 1
            loss = float(train_step(images, labels))
            progress.add(1, values=[("loss", loss)])
            # Once a loss is inf or NaN, the gradients are too and every weight they touch is ruined:
            # stopping here keeps the dump short and its last step is the one that went wrong.
            if not math.isfinite(loss):
                print()
                return step, loss, step
            # Every step adds about 80 KB to the dump: a run that stays finite stops early too.
            if step == max_steps:
                print()
                return None, loss, step
    return None, loss, step


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

    # Everything that is not the training itself is built before the dump starts, so that the dump holds
    # only the training: the model's and the optimizer's variables (Keras creates the optimizer's lazily,
    # hence the explicit build) and the input pipeline. train_step is traced, and so instrumented, on its
    # first call, inside the dump.
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=args.learning_rate)
    optimizer.build(model.trainable_variables)
    train_step = make_naive_train_step(model, optimizer)

    # From here on, every op TensorFlow runs is recorded in dump_dir. FULL_HEALTH keeps, for each output
    # tensor, a small summary (its size and how many elements are -inf, +inf, NaN, negative, zero and
    # positive), not the tensor itself, and circular_buffer_size=-1 keeps every step instead of only the
    # last 1,000 ops. Most of the dump (about 7 MB) is a copy of the TensorFlow and Keras source files on
    # the ops' stack traces, for the Debugger's source view; each training step adds about 80 KB.
    tf.debugging.experimental.enable_dump_debug_info(
        str(dump_dir), tensor_debug_mode="FULL_HEALTH", circular_buffer_size=-1
    )
    try:
        bad_step, loss, steps_run = train_until_not_finite(
            train_step, train_batches, args.epochs, steps_per_epoch, args.max_steps
        )
    finally:
        # Closes the dump's files, writing out what is still buffered: also on Ctrl-C or an error.
        tf.debugging.experimental.disable_dump_debug_info()

    if bad_step is None:
        print(
            f"The loss stayed finite for all {steps_run} steps (last loss {loss:.4f}): "
            "Debugger V2 will show no alerts. Use a larger --learning-rate to make training fail."
        )
    else:
        print(f"The loss of training step {bad_step} is {loss}: training stopped there.")
    print(f"\nLogs written to {dump_dir}")
    # Not `tensorboard --logdir logs`: Debugger V2 looks for a dump only in the root of --logdir. Quoted for the
    # shell, as plumbing.print_view_command quotes the other scripts' commands.
    print(f"View it:  tensorboard --logdir {shlex.quote(str(dump_dir))}")
    print("Then open http://localhost:6006 and pick Debugger V2 from the INACTIVE menu at the top right.")


if __name__ == "__main__":
    ctrl_c.run(main)
