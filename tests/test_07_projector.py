"""07_projector.py: the Projector plugin itself lists the run and serves both embeddings."""

import importlib
import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins import base_plugin, projector
from tensorboard.plugins.projector import projector_plugin
from werkzeug.test import Client

import starter

from tensorboard_server import running_tensorboard

projector_script = importlib.import_module("07_projector")


@pytest.fixture(scope="module")
def projector_run(run_script):
    return run_script("07_projector.py")


@pytest.fixture(scope="module")
def plugin_client(projector_run):
    """The Projector plugin, given a logdir ONE level above the run, as `tensorboard --logdir logs` would."""
    logdir = projector_run.run_dir.parent
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    context = base_plugin.TBContext(
        logdir=str(logdir),
        multiplexer=multiplexer,
        data_provider=data_provider.MultiplexerDataProvider(multiplexer, str(logdir)),
    )
    plugin = projector_plugin.ProjectorPlugin(context)
    apps = plugin.get_plugin_apps()

    def get(route, **query):
        response = Client(apps[route]).get(route, query_string=query)
        assert response.status_code == 200, (route, query, response.get_data(as_text=True)[:300])
        return response.get_data()

    return get, projector_run.run_dir.name


def test_the_projector_lists_the_run_with_both_embeddings(plugin_client):
    get, run = plugin_client
    assert run in json.loads(get("/runs"))
    info = json.loads(get("/info", run=run))
    names = [embedding["tensorName"] for embedding in info["embeddings"]]
    # The names the Projector's tensor menu shows: readable, with no checkpoint suffix.
    assert names == ["features", "pixels"]
    shapes = [embedding["tensorShape"] for embedding in info["embeddings"]]
    # All 360 held-out digits (fewer than the default 500 points); 64 features; 8 x 8 x 1 = 64 pixels.
    assert shapes == [[360, 64], [360, 64]]


def test_metadata_has_one_class_name_per_point(plugin_client):
    get, run = plugin_client
    for name in ("features", "pixels"):
        rows = get("/metadata", run=run, name=name).decode().splitlines()
        assert len(rows) == 360
        assert set(rows) <= set("0123456789")


def test_the_sprite_matches_the_points_and_thumbnail_size(plugin_client, projector_run):
    get, run = plugin_client
    sprite = tf.io.decode_png(get("/sprite_image", run=run, name="features")).numpy()
    config = text_format.Parse(
        (projector_run.run_dir / "projector_config.pbtxt").read_text(), projector.ProjectorConfig()
    )
    width, height = config.embeddings[0].sprite.single_image_dim
    side = int(np.ceil(np.sqrt(360)))
    assert sprite.shape == (side * height, side * width, 3)


def served_tensor(get, run, name, columns):
    """A tensor as the Projector's page receives it: float32 bytes, row after row."""
    return np.frombuffer(get("/tensor", run=run, name=name), dtype=np.float32).reshape(-1, columns)


def test_the_plugin_serves_each_tensor_under_its_name_and_the_pixels_are_the_images(plugin_client, projector_run):
    get, run = plugin_client
    features = served_tensor(get, run, "features", 64)
    pixels = served_tensor(get, run, "pixels", 64)
    assert features.shape == (360, 64) and np.all(np.isfinite(features))
    # The pixels embedding is the held-out images themselves, in order.
    dataset = starter.load_dataset("digits")
    images, labels = projector_script.held_out_sample(dataset, 360)
    np.testing.assert_allclose(pixels, images.reshape(360, -1) / 255.0, rtol=1e-6)
    rows = (projector_run.run_dir / "metadata.tsv").read_text().splitlines()
    assert rows == [str(label) for label in labels]


def test_it_prints_the_names_of_the_projector_menu(projector_run):
    assert "  features: 64 dimensions, from features.tsv" in projector_run.stdout
    assert "  pixels: 64 dimensions, from pixels.tsv" in projector_run.stdout


def test_the_run_holds_no_summary_so_no_tag_shows_in_the_text_tab_or_any_other(projector_run):
    # The Projector needs an event file in the run directory; 07's holds its version record and nothing else.
    (event_file,) = projector_run.run_dir.glob("events.out.tfevents.*")
    records = [event_pb2.Event.FromString(record.numpy()) for record in tf.data.TFRecordDataset(str(event_file))]
    assert [record.WhichOneof("what") for record in records] == ["file_version"]
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(projector_run.run_dir))
    multiplexer.Reload()
    assert list(multiplexer.Runs()) == ["."]
    assert multiplexer.PluginRunToTagToContent("text") == {}
    assert not any(multiplexer.Runs()["."].values()), multiplexer.Runs()


@pytest.mark.parametrize("level", ["lesson", "run"])
def test_the_real_tensorboard_lists_the_run_in_the_projector_and_nothing_in_text(projector_run, level):
    # `tensorboard --logdir logs/07_projector` (the run is then named after its directory) and
    # `tensorboard --logdir logs/07_projector/<run>` (the run is then ".").
    logdir, run = (
        (projector_run.run_dir.parent, projector_run.run_dir.name)
        if level == "lesson"
        else (projector_run.run_dir, ".")
    )
    with running_tensorboard(logdir) as server:
        server.wait_until(lambda: server.get("/data/plugins_listing")["projector"]["enabled"], what="the Projector")
        assert run in server.get("/data/plugin/projector/runs")
        info = server.get("/data/plugin/projector/info", run=run)
        assert [embedding["tensorName"] for embedding in info["embeddings"]] == ["features", "pixels"]
        listing = server.get("/data/plugins_listing")
        assert not listing["text"]["enabled"] and not listing["scalars"]["enabled"]
        assert run not in server.get("/data/plugin/text/tags")


def test_it_says_when_the_test_split_holds_fewer_images_than_points(projector_run):
    # --points is 500 by default; --quick on digits holds 360 held-out images.
    note = "Note: the default --points 500 is more than the 360 held-out images: embedding them all."
    assert note in projector_run.stdout
    assert "Embedded 360 held-out images" in projector_run.stdout


def test_the_closing_lines_name_the_projector_tab_in_plain_english(projector_run):
    assert "Then open http://localhost:6006 and the Projector tab." in projector_run.stdout


# ----- write_projector_files and write_projector_config ------------------------------------------------------

CLASS_NAMES = ["zero", "one", "two"]


def test_the_projector_files_and_config_hold_tensors_metadata_sprite_and_an_empty_event_file(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.random((7, 4)).astype(np.float32)
    pixels = rng.random((7, 12)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0])
    # Thumbnails 6 high and 4 wide, so that the config's width-then-height order is checked.
    images = np.zeros((7, 6, 4, 3), dtype=np.uint8)
    images[0, ..., 0] = 255  # the first image is pure red

    embeddings = {"features": features, "pixels": pixels}
    tensor_files, thumbnail_size = projector_script.write_projector_files(
        tmp_path, embeddings, labels, CLASS_NAMES, images
    )
    projector_script.write_projector_config(tmp_path, tensor_files, thumbnail_size)
    assert tensor_files == {"features": "features.tsv", "pixels": "pixels.tsv"}
    assert thumbnail_size == (6, 4)

    rows = (tmp_path / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows == [CLASS_NAMES[label] for label in labels]

    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), projector.ProjectorConfig())
    # The name the Projector's menu shows, and the file it reads the tensor from.
    assert [(embedding.tensor_name, embedding.tensor_path) for embedding in config.embeddings] == [
        ("features", "features.tsv"),
        ("pixels", "pixels.tsv"),
    ]
    for embedding in config.embeddings:
        assert embedding.metadata_path == "metadata.tsv"
        assert embedding.sprite.image_path == "sprite.png"
        assert list(embedding.sprite.single_image_dim) == [4, 6]

    # One point per line, its values separated by tabs, as TensorBoard's projector plugin reads them.
    np.testing.assert_allclose(np.loadtxt(tmp_path / "features.tsv", delimiter="\t"), features, rtol=1e-6)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "pixels.tsv", delimiter="\t"), pixels, rtol=1e-6)

    sprite = tf.io.decode_png((tmp_path / "sprite.png").read_bytes()).numpy()
    assert sprite.shape == (18, 12, 3)
    # Red stays red: the sprite is written in the channel order a PNG viewer expects.
    np.testing.assert_array_equal(sprite[0, 0], [255, 0, 0])

    # The Projector lists only runs with an event file; this one holds no summary, only its version record.
    (event_file,) = tmp_path.glob("events.out.tfevents.*")
    assert sum(1 for _ in tf.data.TFRecordDataset(str(event_file))) == 1


def test_without_images_there_is_no_sprite_in_the_config(tmp_path):
    tensor_files, thumbnail_size = projector_script.write_projector_files(
        tmp_path, {"features": np.zeros((3, 2))}, [0, 1, 2], CLASS_NAMES
    )
    projector_script.write_projector_config(tmp_path, tensor_files, thumbnail_size)
    assert thumbnail_size is None and not (tmp_path / "sprite.png").exists()
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), projector.ProjectorConfig())
    assert not config.embeddings[0].HasField("sprite")


def test_embeddings_and_labels_of_different_lengths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="3 points but there are 2 labels"):
        projector_script.write_projector_files(tmp_path, {"features": np.zeros((3, 2))}, [0, 1], CLASS_NAMES)
