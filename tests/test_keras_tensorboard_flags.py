"""What each flag of `keras.callbacks.TensorBoard` writes on the tested Keras: the "flag by flag" table of
docs/keras-callback.md.

Each fixture runs one tiny `model.fit` in-process (32 random 8x8 images or token rows, batches of 8: 4 batches an
epoch), with one flag, into its own directory, and the tests read the logs back with TensorBoard's own readers.
A Keras release that changes what a flag writes fails a test here: then update that row of docs/keras-callback.md.
"""

import importlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from support import tb_read

EXAMPLES, BATCH_SIZE, EPOCHS = 32, 8, 2
BATCHES_PER_EPOCH = EXAMPLES // BATCH_SIZE
NUM_CLASSES = 3


def random_images():
    rng = np.random.default_rng(0)
    return rng.random((EXAMPLES, 8, 8, 1), dtype=np.float32), rng.integers(0, NUM_CLASSES, EXAMPLES)


def conv_model():
    """A Sequential CNN with three kinds of kernel: (3, 3, 1, 4) with one input channel, (3, 3, 4, 8) with four input
    channels and eight filters, (3, 3, 8, 4) with four filters; then a dense one."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="one_input_channel"),
            keras.layers.Conv2D(8, 3, name="four_input_channels"),
            keras.layers.Conv2D(4, 3, name="four_filters"),
            keras.layers.Flatten(),
            keras.layers.Dense(NUM_CLASSES, name="logits"),
        ],
        name="tiny",
    )


class SummaryInCall(keras.layers.Layer):
    """Passes its input through, and writes a `tf.summary.scalar` from inside `call()` (the step is the default
    one: what Keras' callback set)."""

    def call(self, inputs):
        tf.summary.scalar("mean_activation", tf.reduce_mean(inputs))
        return inputs


class EpochEndSummaries(keras.callbacks.Callback):
    """A callback of one's own that writes a scalar at the end of each epoch, once plainly and once inside
    `tf.summary.record_if(True)`, into a directory of its own."""

    def __init__(self, log_dir):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))

    def on_epoch_end(self, epoch, logs=None):
        with self.writer.as_default():
            tf.summary.scalar("plain", 1.0, step=epoch)
            with tf.summary.record_if(True):
                tf.summary.scalar("inside_record_if_true", 1.0, step=epoch)

    def on_train_end(self, logs=None):
        self.writer.close()


def fit(model, log_dir, data=None, epochs=EPOCHS, validation=True, extra_callbacks=(), **flags):
    """Compiles and fits `model` for `epochs` with `keras.callbacks.TensorBoard(log_dir, **flags)`; returns log_dir."""
    keras.utils.set_random_seed(0)
    inputs, labels = data if data is not None else random_images()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(
        inputs,
        labels,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(inputs, labels) if validation else None,
        callbacks=[keras.callbacks.TensorBoard(str(log_dir), **flags), *extra_callbacks],
        verbose=0,
    )
    return log_dir


def tags_of(run, plugin):
    """The tags a dashboard shows for `run`; none when the run holds no data of that plugin at all."""
    try:
        return set(run.PluginTagToContent(plugin))
    except KeyError:
        return set()


def steps(run, tag):
    return [step for step, _ in tb_read.tensor_values(run, tag)]


# ----- histogram_freq and write_images --------------------------------------------------------------------


@pytest.fixture(scope="module")
def every_second_epoch(tmp_path_factory):
    """histogram_freq=2 and write_images=True over 3 epochs, with no validation data."""
    log_dir = tmp_path_factory.mktemp("histogram_freq")
    return fit(conv_model(), log_dir, epochs=3, validation=False, histogram_freq=2, write_images=True)


@pytest.fixture(scope="module")
def images_without_histograms(tmp_path_factory):
    return fit(conv_model(), tmp_path_factory.mktemp("write_images"), write_images=True)


WEIGHTS = [
    f"tiny/{layer}/{weight}"
    for layer in ("one_input_channel", "four_input_channels", "four_filters", "logits")
    for weight in ("kernel", "bias")
]


def test_histogram_freq_histograms_every_weight_in_the_epochs_it_fires_without_validation_data(every_second_epoch):
    train = tb_read.load(every_second_epoch / "train")
    assert tags_of(train, "histograms") == {f"{weight}/histogram" for weight in WEIGHTS}
    for weight in WEIGHTS:
        # Epochs 0 and 2 of 0, 1, 2: every histogram_freq-th epoch, counted from the first.
        assert steps(train, f"{weight}/histogram") == [0, 2]
    # Keras' docstring says validation data is needed for histograms; on Keras 3 it is not.
    assert not (every_second_epoch / "validation").exists()


def test_write_images_only_in_epochs_where_histograms_fire_and_not_4d_kernels(every_second_epoch):
    train = tb_read.load(every_second_epoch / "train")
    imaged = {tag.removesuffix("/image") for tag in tags_of(train, "images")}
    # A kernel with several input channels stays 4-D after squeezing, and Keras skips it, unless its last axis (the
    # filters) is 1, 3 or 4: then it is drawn as if the filters were colour channels, one image per kernel row. The
    # one-input-channel kernel squeezes to 3-D and shows as one small image per filter.
    assert imaged == set(WEIGHTS) - {"tiny/four_input_channels/kernel"}
    for weight in imaged:
        assert steps(train, f"{weight}/image") == [0, 2]
    # At most 3 images a step: tf.summary.image's default max_outputs.
    ((_, filters), _) = tb_read.decoded_images(train, "tiny/one_input_channel/kernel/image")
    assert [image.shape for image in filters] == [(3, 3, 1)] * 3
    ((_, rows), _) = tb_read.decoded_images(train, "tiny/four_filters/kernel/image")
    assert [image.shape for image in rows] == [(3, 8, 4)] * 3


def test_write_images_without_histogram_freq_writes_no_image(images_without_histograms):
    train = tb_read.load(images_without_histograms / "train")
    assert tags_of(train, "images") == set()
    assert tags_of(train, "histograms") == set()


# ----- write_graph ----------------------------------------------------------------------------------------


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.flatten = keras.layers.Flatten()
        self.logits = keras.layers.Dense(NUM_CLASSES)

    def call(self, inputs):
        return self.logits(self.flatten(inputs))


def functional_model():
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES, name="logits")(keras.layers.Flatten()(inputs)))


@pytest.fixture(scope="module")
def graphs(tmp_path_factory, every_second_epoch):
    """{kind of model: its train run}, each fitted with the default write_graph=True."""
    return {
        "Sequential": tb_read.load(every_second_epoch / "train"),
        "Functional": tb_read.load(fit(functional_model(), tmp_path_factory.mktemp("functional")) / "train"),
        "Subclassed": tb_read.load(fit(Subclassed(), tmp_path_factory.mktemp("subclassed")) / "train"),
    }


def test_write_graph_writes_the_conceptual_graph_of_sequential_and_functional_models(graphs):
    for kind in ("Sequential", "Functional"):
        assert tags_of(graphs[kind], "graph_keras_model") == {"keras"}, kind
        ((step, config),) = tb_read.tensor_values(graphs[kind], "keras")
        assert json.loads(config.item())["class_name"] == kind and step == 0


def test_write_graph_writes_nothing_for_a_subclassed_model_and_never_an_op_graph(graphs):
    assert tags_of(graphs["Subclassed"], "graph_keras_model") == set()
    for run in graphs.values():
        # Tags()["graph"]: whether the run holds an op graph (a GraphDef), what the Graphs tab draws as ops.
        assert run.Tags()["graph"] is False


# ----- update_freq and write_steps_per_second -------------------------------------------------------------


def dense_model(summary_in_call=False):
    layers = [keras.Input((8, 8, 1)), keras.layers.Flatten()]
    layers += [SummaryInCall(name="probe")] if summary_in_call else []
    return keras.Sequential([*layers, keras.layers.Dense(NUM_CLASSES, name="logits")], name="dense")


@pytest.fixture(scope="module")
def update_freq_runs(tmp_path_factory):
    """{update_freq: its log_dir}: 1 and 2 divide the 4 batches of an epoch, 3 does not. Each fit has a layer that
    writes a summary from `call()` and a callback that writes at the end of each epoch (into `<log_dir>/own`)."""
    runs = {}
    for update_freq in (1, 2, 3):
        log_dir = tmp_path_factory.mktemp(f"update_freq_{update_freq}")
        callback = EpochEndSummaries(log_dir / "own")
        runs[update_freq] = fit(
            dense_model(summary_in_call=True),
            log_dir,
            update_freq=update_freq,
            write_steps_per_second=update_freq == 2,
            extra_callbacks=[callback],
        )
    return runs


def test_update_freq_writes_batch_metrics_every_n_batches_at_the_global_batch_number(update_freq_runs):
    for update_freq, log_dir in update_freq_runs.items():
        train = tb_read.load(log_dir / "train")
        expected = list(range(update_freq, EPOCHS * BATCHES_PER_EPOCH + 1, update_freq))
        assert steps(train, "batch_loss") == expected, update_freq


def test_batch_metrics_are_running_means_since_the_epoch_began(update_freq_runs):
    train = tb_read.load(update_freq_runs[1] / "train")
    batch_loss = dict(tb_read.scalar_series(train, "batch_loss"))
    for epoch, epoch_loss in tb_read.scalar_series(train, "epoch_loss"):
        assert batch_loss[(epoch + 1) * BATCHES_PER_EPOCH] == pytest.approx(epoch_loss, rel=1e-6)
    # The first batch of each epoch is that batch alone: the mean starts again.
    assert batch_loss[BATCHES_PER_EPOCH + 1] != pytest.approx(batch_loss[BATCHES_PER_EPOCH], rel=1e-3)


def test_update_freq_epoch_writes_no_batch_metrics(every_second_epoch):
    train = tb_read.load(every_second_epoch / "train")
    assert not any(tag.startswith("batch_") for tag in tb_read.tensor_tags(train))


def test_update_freq_that_divides_the_epoch_keeps_every_epoch_summary(update_freq_runs):
    log_dir = update_freq_runs[2]
    for split in ("train", "validation"):
        assert steps(tb_read.load(log_dir / split), "epoch_loss") == list(range(EPOCHS))
    # Written after each validation pass at optimizer.iterations; kept here as its 4 batches are a multiple of 2.
    assert steps(tb_read.load(log_dir / "validation"), "evaluation_loss_vs_iterations") == [4, 8]
    own = tb_read.load(log_dir / "own")
    assert steps(own, "plain") == steps(own, "inside_record_if_true") == list(range(EPOCHS))


def test_update_freq_that_does_not_divide_the_epoch_drops_epoch_summaries(update_freq_runs):
    # Every epoch ends at batch 4 or 8, not multiples of 3: Keras' "record every 3 batches" condition is still in
    # force at the end of the epoch, and drops its own epoch scalars and those of any other callback.
    log_dir = update_freq_runs[3]
    for split in ("train", "validation"):
        assert not any(
            tag.startswith(("epoch_", "evaluation_")) for tag in tb_read.tensor_tags(tb_read.load(log_dir / split))
        )
    own = tb_read.load(log_dir / "own")
    assert "plain" not in tb_read.tensor_tags(own)
    assert steps(own, "inside_record_if_true") == list(range(EPOCHS))


def summaries_from_call(run):
    """{tag: steps} of the summaries written inside `call()`; TensorFlow numbers the name scope of each trace
    (`dense/probe/...`, `dense_1/probe_1/...`), so they are found by their own name."""
    return {tag: steps(run, tag) for tag in tb_read.tensor_tags(run) if tag.endswith("/mean_activation")}


def test_summaries_inside_call_keep_the_step_and_decision_of_the_trace(update_freq_runs):
    # The compiled training step is traced once, at batch 1: with update_freq=1 every batch writes, all at step 1;
    # with update_freq=2 the trace decided not to record (1 is not a multiple of 2), so nothing is ever written.
    (every_batch,) = summaries_from_call(tb_read.load(update_freq_runs[1] / "train")).values()
    assert every_batch == [1] * (EPOCHS * BATCHES_PER_EPOCH)
    assert summaries_from_call(tb_read.load(update_freq_runs[2] / "train")) == {}


def test_write_steps_per_second_adds_batch_and_epoch_rates(update_freq_runs):
    train = tb_read.load(update_freq_runs[2] / "train")
    assert steps(train, "batch_steps_per_second") == list(range(2, EPOCHS * BATCHES_PER_EPOCH + 1, 2))
    assert steps(train, "epoch_steps_per_second") == list(range(EPOCHS))
    for tag in ("batch_steps_per_second", "epoch_steps_per_second"):
        assert all(value > 0 for _, value in tb_read.scalar_series(train, tag))
    without_flag = tb_read.tensor_tags(tb_read.load(update_freq_runs[1] / "train"))
    assert not any(tag.endswith("steps_per_second") for tag in without_flag)


# ----- profile_batch ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    return fit(dense_model(), tmp_path_factory.mktemp("profile_batch"), profile_batch=2)


def test_profile_batch_records_a_profile_without_step_markers(profiled):
    from xprof.convert import raw_to_tool_data

    (xplane,) = (profiled / "train" / "plugins" / "profile").glob("*/*.xplane.pb")
    # What the Profile tab's Overview page shows, converted by the profile plugin's own converter.
    overview, _ = raw_to_tool_data.xspace_to_tool_data([str(xplane)], "overview_page", {})
    assert b"No step marker observed" in overview
    # The Trace viewer and the Op profile still have the profile's data.
    tools = raw_to_tool_data.xspace_to_tool_names([str(xplane)])
    assert {"trace_viewer@", "op_profile"} <= set(tools)


def test_profile_batch_also_writes_an_empty_graph_tag(profiled):
    from tensorboard.compat.proto import config_pb2

    train = tb_read.load(profiled / "train")
    assert tags_of(train, "graph_run_metadata_graph") == {"batch_2"}
    ((step, value),) = tb_read.tensor_values(train, "batch_2")
    run_metadata = config_pb2.RunMetadata.FromString(value.item())
    assert step == 2 and len(run_metadata.function_graphs) == 0


# ----- embeddings_freq --------------------------------------------------------------------------------------


def projector_runs(logdir):
    """The runs the Projector tab lists, as its plugin serves them (in-process, over TensorBoard's data provider)."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    plugin = ProjectorPlugin(base_plugin.TBContext(logdir=str(logdir), data_provider=provider))
    return json.loads(Client(plugin.get_plugin_apps()["/runs"]).get("/").get_data())


@pytest.fixture(scope="module")
def embeddings_logdir(tmp_path_factory):
    """A logdir with a fit of an Embedding model (embeddings_freq=1) in `keras`, and in `checkpoint` the same kind of
    embedding written the way the Projector reads it (as 07_projector.py writes it)."""
    logdir = tmp_path_factory.mktemp("embeddings_freq")
    rng = np.random.default_rng(0)
    tokens, labels = rng.integers(0, 10, (EXAMPLES, 4)), rng.integers(0, NUM_CLASSES, EXAMPLES)
    model = keras.Sequential(
        [keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    fit(model, logdir / "keras", data=(tokens, labels), embeddings_freq=1)
    (logdir / "checkpoint").mkdir()
    projector_lesson = importlib.import_module("07_projector")
    tensor_files, _ = projector_lesson.write_projector_files(
        logdir / "checkpoint", {"embedding": rng.random((10, 3))}, np.arange(10) % 3, ["a", "b", "c"]
    )
    projector_lesson.write_projector_config(logdir / "checkpoint", tensor_files)
    return logdir


def test_embeddings_freq_writes_h5_weights_and_a_config_that_the_projector_cannot_use(embeddings_logdir):
    log_dir = embeddings_logdir / "keras"
    assert sorted(path.name for path in (log_dir / "train").glob("keras_embedding*")) == [
        f"keras_embedding.ckpt-{epoch}.weights.h5" for epoch in range(EPOCHS)
    ]
    assert "layer_with_weights-0/embeddings" in (log_dir / "projector_config.pbtxt").read_text()
    # Keras weights files, not a TensorFlow checkpoint, beside a config in a directory with no event file.
    assert (
        tf.train.latest_checkpoint(str(log_dir)) is None and tf.train.latest_checkpoint(str(log_dir / "train")) is None
    )
    assert projector_runs(embeddings_logdir) == ["checkpoint"]
