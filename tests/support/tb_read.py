"""Reads logs back with TensorBoard's own event readers, the data a dashboard shows."""

from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

# Keep every event: the default size guidance samples scalars and drops images beyond a few.
KEEP_ALL = {
    event_accumulator.TENSORS: 0,
    event_accumulator.IMAGES: 0,
    event_accumulator.SCALARS: 0,
    event_accumulator.HISTOGRAMS: 0,
}


def load(run_path):
    """An EventAccumulator with every event of one run directory loaded."""
    accumulator = event_accumulator.EventAccumulator(str(run_path), size_guidance=KEEP_ALL)
    accumulator.Reload()
    return accumulator


def tensor_tags(accumulator):
    return set(accumulator.Tags()[event_accumulator.TENSORS])


def plugin_tags(accumulator, plugin):
    """The tags that a dashboard (scalars, histograms, images, graph_keras_model, ...) would show."""
    return set(accumulator.PluginTagToContent(plugin))


def scalar_series(accumulator, tag):
    """[(step, value)] of a tf.summary.scalar tag, in the order written."""
    return [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def tensor_values(accumulator, tag):
    """[(step, numpy value)] of any TF2 summary tag."""
    return [(event.step, tensor_util.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]


def assert_epoch_series(series, epochs):
    """One finite value per epoch, at steps 0, 1, ..., epochs - 1."""
    steps = [step for step, _ in series]
    values = np.array([value for _, value in series])
    assert steps == list(range(epochs)), steps
    assert np.all(np.isfinite(values)), values


def assert_epoch_scalars(run_path, tags, epochs):
    """The run shows each tag in the Scalars tab with one finite value per epoch; returns the run."""
    run = load(run_path)
    assert set(tags) <= plugin_tags(run, "scalars")
    for tag in tags:
        assert_epoch_series(scalar_series(run, tag), epochs)
    return run


def decoded_images(accumulator, tag):
    """[(step, [PNG decoded as (H, W, C) uint8 arrays])] of a tf.summary.image tag."""
    import tensorflow as tf

    series = []
    for step, value in tensor_values(accumulator, tag):
        # A TF2 image summary is a string tensor: width, height, then one encoded PNG per image.
        series.append((step, [tf.io.decode_png(png).numpy() for png in value[2:]]))
    return series


def traced_graph_ops(accumulator, tag):
    """The op types of each graph in a tf.summary.trace_export tag, as the Graphs tab reads them."""
    from tensorboard.compat.proto import config_pb2

    ((_, value),) = tensor_values(accumulator, tag)
    run_metadata = config_pb2.RunMetadata.FromString(value.item() if value.ndim == 0 else value[0])
    return [
        {node.op for node in function_graph.pre_optimization_graph.node}
        for function_graph in run_metadata.function_graphs
    ]


def run_graph_ops(accumulator):
    """The op types of a run's graph (tf.summary.graph), as the Graphs tab reads it."""
    return {node.op for node in accumulator.Graph().node}


def step_numbers(profile_path, name="train"):
    """The `step_num` of every `tf.profiler.experimental.Trace(name, step_num=N, _r=1)` step marker in an
    `.xplane.pb` profile: the steps the Profile tab's Overview page counts."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace.FromString(Path(profile_path).read_bytes())
    steps = set()
    for plane in space.planes:
        event_names = {key: value.name for key, value in plane.event_metadata.items()}
        stat_names = {key: value.name for key, value in plane.stat_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                if event_names.get(event.metadata_id) == name:
                    steps |= {stat.int64_value for stat in event.stats if stat_names[stat.metadata_id] == "step_num"}
    return steps
