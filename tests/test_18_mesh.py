"""18_mesh.py: the CNN's features of held-out images as a 3D point cloud each epoch, read back through the real
TensorBoard server as the printed command serves the run."""

import importlib
import json

import numpy as np
import pytest

import starter

from support import tb_read
from support.scripts import SCRIPT_ARGS
from tensorboard_server import running_tensorboard

mesh_script = importlib.import_module("18_mesh")

EPOCHS = int(SCRIPT_ARGS["18_mesh.py"][1])
STEPS = list(range(EPOCHS + 1))  # step 0: the untrained model; step e: after epoch e
MESH = "/data/plugin/mesh"
RUN = "."  # the run directory itself, served as the script's printed command serves it
# The mesh plugin's content types (plugin_data.proto): VERTEX 1, FACE 2, COLOR 3.
VERTEX, COLOR = 1, 3


@pytest.fixture(scope="module")
def mesh_run(run_script):
    return run_script("18_mesh.py")


@pytest.fixture(scope="module")
def server(mesh_run):
    with running_tensorboard(mesh_run.run_dir) as tb:
        tb.wait_until(lambda: tb.get(f"{MESH}/tags").get(RUN), what="the mesh tags")
        yield tb


@pytest.fixture(scope="module")
def held_out_labels():
    """The labels of the images the cloud shows: the first POINTS of the test split of --quick on digits."""
    dataset = starter.load_dataset("digits", quick=True, verbose=False)
    return np.concatenate([labels.numpy() for _, labels in dataset.test.take(mesh_script.POINTS).batch(1000)])


@pytest.fixture(scope="module")
def clouds(server):
    """{step: (vertices (N, 3) float32, colours (N, 3) uint8)}, as the Mesh tab fetches them."""
    found = {}
    for entry in server.get(f"{MESH}/meshes", run=RUN, tag="features"):
        if entry["content_type"] != VERTEX:
            continue
        step = entry["step"]
        query = {"run": RUN, "tag": "features", "step": step, "sample": 0}
        vertices = np.frombuffer(server.get(f"{MESH}/data", raw=True, content_type="VERTEX", **query), np.float32)
        colours = np.frombuffer(server.get(f"{MESH}/data", raw=True, content_type="COLOR", **query), np.uint8)
        found[step] = (vertices.reshape(-1, 3), colours.reshape(-1, 3))
    return found


def test_the_mesh_tab_lists_one_point_cloud_with_vertices_and_colours_before_training_and_after_every_epoch(
    server, held_out_labels
):
    # The tag index has no description: the Mesh tab shows none (the legend is in the Text tab and the output).
    assert server.get(f"{MESH}/tags") == {RUN: {"features": {"samples": 1}}}
    entries = server.get(f"{MESH}/meshes", run=RUN, tag="features")
    # Each step: one summary for the vertices and one for the colours (no faces: a point cloud).
    assert sorted((entry["step"], entry["content_type"]) for entry in entries) == sorted(
        (step, kind) for step in STEPS for kind in (VERTEX, COLOR)
    )
    for entry in entries:
        assert entry["data_shape"] == [1, len(held_out_labels), 3]
        assert entry["components"] == (1 << VERTEX) | (1 << COLOR)
        config = json.loads(entry["config"])
        assert config["camera"]["cls"] == "PerspectiveCamera"
        assert config["material"] == {"cls": "PointsMaterial", "size": mesh_script.MESH_CONFIG["material"]["size"]}


def test_one_vertex_and_one_colour_per_held_out_image_the_colour_of_its_class(clouds, held_out_labels):
    palette = np.array(list(mesh_script.COLOURS.values()), dtype=np.uint8)
    assert sorted(clouds) == STEPS
    assert len(held_out_labels) == min(mesh_script.POINTS, starter.QUICK_TEST_EXAMPLES, 360)
    for vertices, colours in clouds.values():
        assert len(vertices) == len(colours) == len(held_out_labels)
        np.testing.assert_array_equal(colours, palette[held_out_labels])
        # Scaled into the unit cube, its widest coordinate at its edge, and spread in all three directions.
        assert np.all(np.isfinite(vertices)) and np.abs(vertices).max() == pytest.approx(1.0)
        assert np.all(vertices.std(axis=0) > 0.01)
    # The features change as the model learns, so the cloud does too.
    assert not np.allclose(clouds[0][0], clouds[EPOCHS][0])


def test_consecutive_clouds_do_not_flip_over_each_axis_agrees_with_the_previous_step(clouds):
    for step in STEPS[1:]:
        (previous, _), (points, _) = clouds[step - 1], clouds[step]
        agreement = (points * previous).sum(axis=0)
        assert np.all(agreement > 0), (step, agreement)


def test_the_legend_is_in_the_text_tab_and_the_output_and_stored_in_the_description(server, mesh_run):
    line = ", ".join(f"{digit} {colour}" for digit, colour in zip("0123456789", mesh_script.COLOURS, strict=True))
    assert line == "0 blue, 1 orange, 2 green, 3 red, 4 purple, 5 brown, 6 pink, 7 gray, 8 olive, 9 cyan"
    run = tb_read.load(mesh_run.run_dir)
    ((step, table),) = tb_read.tensor_values(run, "legend")
    assert step == 0
    assert table.item().decode().splitlines() == [
        "| class | colour |",
        "|---|---|",
        *(f"| {digit} | {colour} |" for digit, colour in zip("0123456789", mesh_script.COLOURS, strict=True)),
    ]
    # Stored with the mesh (the Mesh tab does not show it: its tag index above has no description).
    description = run.SummaryMetadata("features_VERTEX").summary_description
    assert description == f"360 held-out test images, coloured by class: {line}."
    assert f"Each cloud holds 360 held-out test images, one colour per class: {line}." in mesh_run.stdout
    assert f"tensorboard --logdir {mesh_run.run_dir}\n" in mesh_run.stdout and "the Mesh tab" in mesh_run.stdout


def test_pca_3d_projects_onto_the_directions_of_most_spread_each_axis_signed_as_the_previous_cloud():
    rng = np.random.default_rng(0)
    # Five dimensions, spread most along the last, then the first, then the third.
    features = rng.normal(size=(400, 5)) * np.array([3.0, 0.1, 2.0, 0.1, 5.0]) + 7.0
    points = mesh_script.pca_3d(features)
    assert points.shape == (400, 3) and points.dtype == np.float32
    assert np.abs(points).max() == pytest.approx(1.0)
    spread = points.std(axis=0)
    assert spread[0] > spread[1] > spread[2]
    # Each coordinate is, up to the common scale, the centered features along one axis of most spread.
    centered = features - features.mean(axis=0)
    for coordinate, axis in zip(points.T, (4, 0, 2), strict=True):
        correlation = np.corrcoef(coordinate, centered[:, axis])[0, 1]
        assert abs(correlation) > 0.99, (axis, correlation)
    # Given the previous cloud of the same points, each axis takes the sign that agrees with it.
    for signs in ([1, -1, 1], [-1, 1, -1], [-1, -1, -1]):
        previous = points * np.array(signs, np.float32)
        np.testing.assert_allclose(mesh_script.pca_3d(features, previous=previous), previous, atol=1e-6)
        moved = features + rng.normal(size=features.shape) * 0.05  # the next epoch: the features moved a little
        again = mesh_script.pca_3d(moved, previous=previous)
        assert np.all((again * previous).sum(axis=0) > 0), signs
    # Features that are all alike (an untrained layer that outputs zeros) give a cloud at the origin, not NaNs.
    assert np.array_equal(mesh_script.pca_3d(np.zeros((10, 64))), np.zeros((10, 3), np.float32))


def test_point_colours_and_the_legend_agree():
    colours = mesh_script.point_colours(np.array([0, 9, 3]))
    assert colours.dtype == np.uint8
    assert colours.tolist() == [list(mesh_script.COLOURS["blue"]), list(mesh_script.COLOURS["cyan"]), [214, 39, 40]]
    line, table = mesh_script.legend(("airplane", "automobile"))
    assert line == "airplane blue, automobile orange"
    assert table.splitlines()[2:] == ["| airplane | blue |", "| automobile | orange |"]


def test_on_cifar10_the_cloud_has_a_point_per_held_out_image_and_the_legend_names_its_classes(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    import plumbing

    # mock_data stands in for a CIFAR-10 that tensorflow_datasets has prepared (as in test_starter.py).
    monkeypatch.setattr(plumbing, "is_cached", lambda name: True)
    with tfds.testing.mock_data(num_examples=40):
        mesh_script.main(["--dataset", "cifar10", "--epochs", "1", "--batch-size", "16", "--logdir", str(tmp_path)])
    (run_dir,) = (tmp_path / "18_mesh").iterdir()
    run = tb_read.load(run_dir)
    # Before training (step 0) and after the one epoch (step 1).
    vertices = tb_read.tensor_values(run, "features_VERTEX")
    colours = tb_read.tensor_values(run, "features_COLOR")
    assert [step for step, _ in vertices] == [step for step, _ in colours] == [0, 1]
    assert all(value.shape == (1, 40, 3) for _, value in vertices + colours)
    ((_, table),) = tb_read.tensor_values(run, "legend")
    assert "| airplane | blue |" in table.item().decode() and "| truck | cyan |" in table.item().decode()
