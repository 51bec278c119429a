"""Reads logs back with TensorBoard's own event readers, the data a dashboard shows."""

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
