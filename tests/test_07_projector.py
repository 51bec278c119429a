"""07_projector.py: the Projector plugin itself lists the run and serves both embeddings."""

import importlib
import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin, projector
from tensorboard.plugins.projector import projector_plugin
from werkzeug.test import Client

import starter

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
