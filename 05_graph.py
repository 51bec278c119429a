"""
Title: The op graph of a tf.function, with trace_on and trace_export
Description: Trace a tf.function once and export its graph, so the Graphs tab shows every operation.

TensorBoard tab: Graphs. Run `function`: the video's relu(matmul(x, y)) on two 3x3 matrices, a graph
of MatMul and Relu. Run `model`: the CNN's forward pass, with its Conv2D, MaxPool and MatMul ops.
Keras 3's TensorBoard callback (01_callbacks.py) shows only the conceptual "keras" graph; this is how
to get the op graph. With `--profile`, the traces also record a profile (Profile tab).
Run it:   python 05_graph.py               (or --quick; the same thing: it trains nothing)
View it:  tensorboard --logdir logs/05_graph
Time on a 2-core CPU: about 5 s.
"""

import tensorflow as tf

import starter


@tf.function
def relu_matmul(x, y):
    """The video's example: a tiny function whose graph has a MatMul and a Relu."""
    return tf.nn.relu(tf.matmul(x, y))


def discard_collected_graphs():
    """Empties TensorFlow's collection of traced graphs, so that the next trace holds one function only.

    In TF 2.21, trace_export stops the trace but not the collection of graphs: a second trace would also
    hold every graph run since the first export (that export's own summary write among them). An export
    with no default writer writes nothing and empties the collection; the first such export of a process
    leaves one constant behind, hence two.
    """
    for _ in range(2):
        tf.summary.trace_on(graph=True)
        tf.summary.trace_export(name="discarded", step=0)


def export_graph(writer, name, function, inputs, profile, profiler_outdir):
    """Calls a tf.function once with tracing on, and writes its graph with `writer`."""
    discard_collected_graphs()
    # The profiler is started and stopped on its own rather than with trace_on(profiler=True): in TF 2.21
    # trace_export stops that profiler, then stops it again and logs "Error while stopping profiler".
    if profile:
        tf.profiler.experimental.start(profiler_outdir)
    tf.summary.trace_on(graph=True)
    function(*inputs)
    with writer.as_default():
        tf.summary.trace_export(name=name, step=0)
    if profile:
        tf.profiler.experimental.stop()


def main():
    parser = starter.make_parser("Log op graphs of tf.functions to the Graphs tab.")
    parser.add_argument("--profile", action="store_true", help="also record a profile of each traced call")
    args = starter.parse_args(parser)
    starter.configure_gpu()
    dataset = starter.load_from_args(args)
    run_dir = starter.new_run_dir(args.logdir, __file__)

    x = tf.random.uniform((3, 3))
    y = tf.random.uniform((3, 3))
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    # Tracing needs only the shape and dtype of the input, so a batch of zeros will do.
    images = tf.zeros((args.batch_size, *dataset.image_shape))

    @tf.function
    def forward_pass(images):
        return model(images, training=False)

    # A trace records every graph that runs until trace_export, so the model, the writers and the inputs
    # are all created before tracing starts.
    function_writer = tf.summary.create_file_writer(str(run_dir / "function"))
    model_writer = tf.summary.create_file_writer(str(run_dir / "model"))
    try:
        # The first call of a tf.function traces it into a graph: that is the call to record.
        export_graph(function_writer, "relu_matmul", relu_matmul, (x, y), args.profile, str(run_dir / "function"))
        export_graph(model_writer, "cnn_forward_pass", forward_pass, (images,), args.profile, str(run_dir / "model"))
    finally:
        function_writer.close()
        model_writer.close()
    starter.print_view_command(run_dir, "Graphs (pick the run in the Run menu)")


if __name__ == "__main__":
    starter.run(main)
