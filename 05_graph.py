"""
Title: The op graph of a tf.function
Description: Trace a tf.function into a graph and write it, so the Graphs tab shows every operation.

TensorBoard tab: Graphs. Run `function`: the video's relu(matmul(x, y)) on two 3x3 matrices, a graph
of MatMul and Relu. Run `model`: the CNN's forward pass, with its Conv2D, MaxPool and MatMul ops.
Keras 3's TensorBoard callback (01_callbacks.py) shows only the conceptual "keras" graph; this is how
to get the op graph. With `--profile`, each function also runs once under the profiler, which records
a profile of that call (Profile tab).
Run it:   python 05_graph.py               (or --quick; the same thing: it trains nothing)
View it:  tensorboard --logdir logs/05_graph
Time on a 2-core CPU: about 11 s.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import tensorflow as tf

import plumbing
import starter

LESSON = "05_graph"  # its logs go to <logdir>/05_graph/


@tf.function
def relu_matmul(x, y):
    """The video's example: a tiny function whose graph has a MatMul and a Relu."""
    return tf.nn.relu(tf.matmul(x, y))


def write_op_graph(writer, function, inputs):
    """Writes the op graph of a tf.function, traced for `inputs`, as the writer's run graph.

    `get_concrete_function` traces the Python function into a graph without running it, and
    `tf.summary.graph` writes that graph: no trace to switch on and off, nothing else recorded.
    """
    graph = function.get_concrete_function(*inputs).graph
    with writer.as_default():
        tf.summary.graph(graph)


def profile_call(function, inputs, profiler_outdir):
    """Runs a tf.function once with the profiler on: the Profile tab then shows what that call cost.

    The video did this with trace_on(profiler=True) and trace_export. In TF 2.21 that export stops the
    profiler twice ("Error while stopping profiler") and keeps collecting graphs after it, so the next
    export also holds the graphs of the first; the op graph is already written by write_op_graph. Starting
    and stopping the profiler around the call records the same profile with neither problem.
    """
    tf.profiler.experimental.start(profiler_outdir)
    try:
        function(*inputs)
    finally:
        tf.profiler.experimental.stop()


def make_parser():
    parser = plumbing.make_parser("Log op graphs of tf.functions to the Graphs tab.")
    parser.add_argument("--profile", action="store_true", help="also record a profile of each traced call")
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    x = tf.random.uniform((3, 3))
    y = tf.random.uniform((3, 3))
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    # Tracing needs only the shape and dtype of the input, so a batch of zeros will do.
    images = tf.zeros((args.batch_size, *dataset.image_shape))

    @tf.function
    def forward_pass(images):
        return model(images, training=False)

    function_writer = tf.summary.create_file_writer(str(run_dir / "function"))
    model_writer = tf.summary.create_file_writer(str(run_dir / "model"))
    try:
        write_op_graph(function_writer, relu_matmul, (x, y))
        write_op_graph(model_writer, forward_pass, (images,))
        if args.profile:
            profile_call(relu_matmul, (x, y), str(run_dir / "function"))
            profile_call(forward_pass, (images,), str(run_dir / "model"))
    finally:
        function_writer.close()
        model_writer.close()
    plumbing.print_view_command(run_dir, "Graphs (pick the run in the Run menu)")


if __name__ == "__main__":
    ctrl_c.run(main)
