"""
Title: The op graph of a tf.function
Description: Trace a tf.function into a graph and write it, so the Graphs tab shows every operation.

TensorBoard tab: Graphs (its Run menu switches between the `function` and `model` graphs).
Run it:   python 05_graph.py               (or --quick; the same thing: it trains nothing)
View it:  tensorboard --logdir logs/05_graph/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import tensorflow as tf

import plumbing
import starter

LESSON = "05_graph"  # its logs go to <logdir>/05_graph/

# ## A tiny function
#
# The video's example: `relu(matmul(x, y))` on two 3x3 matrices. `@tf.function` makes TensorFlow trace the
# Python function into a graph of operations, here a MatMul and a Relu.


@tf.function
def relu_matmul(x, y):
    return tf.nn.relu(tf.matmul(x, y))


# ## Writing its op graph
#
# This is the TensorBoard part of the lesson. `get_concrete_function` traces the function for inputs of these
# shapes and dtypes, without running it, and `tf.summary.graph` writes that graph as the run's graph: no trace
# to switch on and off, nothing else recorded.


def write_op_graph(writer, function, inputs):
    graph = function.get_concrete_function(*inputs).graph
    with writer.as_default():
        tf.summary.graph(graph)


# ## The model's forward pass
#
# The same works for a Keras model: wrap its call in a `tf.function`, and the graph holds the CNN's Conv2D,
# MaxPool and MatMul ops. Keras 3's TensorBoard callback (`01_callbacks.py`) writes only the conceptual graph of
# a model; this is how to get its op graph. Tracing needs only the input's shape and dtype, so a batch of zeros
# will do, and `training=False` leaves dropout out of the graph.


def forward_pass_and_input(dataset, batch_size):
    """A tf.function of the CNN's forward pass, and an input to trace it with."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))

    @tf.function
    def forward_pass(images):
        return model(images, training=False)

    return forward_pass, tf.zeros((batch_size, *dataset.image_shape))


# ## A profile of each call (`--profile`)
#
# With `--profile`, each function also runs once with the profiler on, which records what that call cost for
# the Profile tab. Starting and stopping the profiler around the call records the profile and nothing else.


def profile_call(function, inputs, profiler_outdir):
    # Not the video's trace_on(profiler=True)/trace_export: see docs/limitations.md, "trace_export in TF 2.21".
    tf.profiler.experimental.start(profiler_outdir)
    try:
        function(*inputs)
    finally:
        tf.profiler.experimental.stop()


# ## Run the lesson
#
# `main` writes each graph into a run of its own, `function` and `model`, and ends with the command that shows
# them. The Graphs tab shows one run's graph at a time: pick the other in its Run menu.


def make_parser():
    parser = plumbing.make_parser("Log op graphs of tf.functions to the Graphs tab.")
    parser.add_argument("--profile", action="store_true", help="also record a profile of each traced call")
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    matrices = (tf.random.uniform((3, 3)), tf.random.uniform((3, 3)))
    forward_pass, images = forward_pass_and_input(dataset, args.batch_size)
    function_writer = tf.summary.create_file_writer(str(run_dir / "function"))
    model_writer = tf.summary.create_file_writer(str(run_dir / "model"))
    try:
        write_op_graph(function_writer, relu_matmul, matrices)
        write_op_graph(model_writer, forward_pass, (images,))
        if args.profile:
            profile_call(relu_matmul, matrices, str(run_dir / "function"))
            profile_call(forward_pass, (images,), str(run_dir / "model"))
    finally:
        function_writer.close()
        model_writer.close()
    plumbing.print_view_command(run_dir, "Graphs")
    print('The Graphs tab shows one run\'s graph: pick "function" or "model" in its Run menu.')
    if args.profile:
        print('The Profile tab holds a profile of each call, under the runs "function" and "model".')


if __name__ == "__main__":
    ctrl_c.run(main)
