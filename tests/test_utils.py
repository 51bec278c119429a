"""Unit tests for every helper in utils.py."""

import inspect
import math
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import utils

CLASS_NAMES = ["zero", "one", "two"]


def test_plot_to_image_returns_one_rgba_uint8_image_and_closes_the_figure():
    figure = plt.figure(figsize=(2, 3), dpi=50)
    image = utils.plot_to_image(figure)
    assert image.dtype == tf.uint8
    assert image.shape == (1, 150, 100, 4)
    assert not plt.fignum_exists(figure.number)


def test_image_grid_is_square_and_titles_each_image_with_its_class():
    images = np.random.default_rng(0).random((5, 8, 8, 3))
    figure = utils.image_grid(images, [0, 1, 2, 0, 1], CLASS_NAMES)
    axes = figure.axes
    assert len(axes) == 9  # ceil(sqrt(5)) = 3, so a 3 x 3 grid
    assert [axis.get_title() for axis in axes[:5]] == ["zero", "one", "two", "zero", "one"]
    assert [axis.get_title() for axis in axes[5:]] == ["", "", "", ""]
    plt.close(figure)


def test_image_grid_shows_one_channel_images_in_grayscale():
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    figure = utils.image_grid(images, [0, 1, 2, 0], CLASS_NAMES)
    shown = figure.axes[0].get_images()[0]
    assert shown.get_cmap().name == "gray"
    assert shown.get_array().shape == (8, 8)
    plt.close(figure)


def test_confusion_matrix_puts_true_labels_on_rows_and_predictions_on_columns():
    counts = utils.get_confusion_matrix([0], [1], num_classes=3)
    expected = np.zeros((3, 3), dtype=np.int64)
    expected[0, 1] = 1
    np.testing.assert_array_equal(counts, expected)


def test_confusion_matrix_keeps_its_size_when_a_class_is_missing_and_counts_add_up():
    first = utils.get_confusion_matrix([0, 0, 1], [0, 1, 1], num_classes=4)
    second = utils.get_confusion_matrix([3], [3], num_classes=4)
    assert first.shape == second.shape == (4, 4)
    total = first + second
    assert total.sum() == 4
    assert total[0, 0] == 1 and total[0, 1] == 1 and total[1, 1] == 1 and total[3, 3] == 1


def _grid_values(figure):
    """The normalized matrix drawn by plot_confusion_matrix, and its printed numbers by (row, column)."""
    axis = figure.axes[0]
    drawn = np.asarray(axis.get_images()[0].get_array())
    printed = {}
    for text in axis.texts:
        column, row = text.get_position()
        printed[(int(round(row)), int(round(column)))] = float(text.get_text())
    return axis, drawn, printed


def test_plot_confusion_matrix_is_row_normalized_with_true_label_on_the_y_axis():
    counts = np.array([[3, 1, 0], [0, 2, 2], [0, 0, 0]])
    figure = utils.plot_confusion_matrix(counts, CLASS_NAMES)
    axis, drawn, printed = _grid_values(figure)
    expected = np.array([[0.75, 0.25, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(drawn, expected)
    # The printed numbers show the same values as the colours, at the same cell (not transposed).
    for (row, column), value in printed.items():
        assert value == pytest.approx(expected[row, column], abs=0.005)
    assert len(printed) == 9
    assert axis.get_ylabel() == "True label"
    assert axis.get_xlabel() == "Predicted label"
    assert [label.get_text() for label in axis.get_yticklabels()] == CLASS_NAMES
    plt.close(figure)


def test_plot_confusion_matrix_gives_a_zero_row_for_a_class_without_samples():
    figure = utils.plot_confusion_matrix(np.array([[2, 0], [0, 0]]), ["a", "b"])
    _, drawn, _ = _grid_values(figure)
    assert np.all(np.isfinite(drawn))
    np.testing.assert_array_equal(drawn[1], [0.0, 0.0])
    plt.close(figure)


def test_create_sprite_is_square_padded_and_keeps_image_order():
    images = np.stack([np.full((4, 5, 3), value, dtype=np.uint8) for value in (10, 20, 30, 40, 50)])
    sprite, thumbnail_size = utils.create_sprite(images)
    assert thumbnail_size == (4, 5)
    assert sprite.shape == (3 * 4, 3 * 5, 3) and sprite.dtype == np.uint8
    assert sprite[0, 0, 0] == 10 and sprite[0, 5, 0] == 20 and sprite[4, 0, 0] == 40
    # Cells after the last image are black padding.
    assert sprite[4:8, 10:15].max() == 0 and sprite[8:, :].max() == 0


def test_create_sprite_turns_grayscale_into_rgb():
    sprite, _ = utils.create_sprite(np.full((4, 8, 8, 1), 200, dtype=np.uint8))
    assert sprite.shape == (16, 16, 3)
    assert np.all(sprite == 200)


def test_create_sprite_shrinks_thumbnails_to_stay_within_the_cap():
    images = np.zeros((10_000, 32, 32, 3), dtype=np.uint8)  # 100 x 100 thumbnails of 32 px = 3200 px
    sprite, thumbnail_size = utils.create_sprite(images, max_size=1000)
    assert thumbnail_size == (10, 10)
    assert sprite.shape == (1000, 1000, 3)


def test_create_sprite_never_exceeds_8192_pixels():
    images = np.zeros((300 * 300, 32, 32, 3), dtype=np.uint8)  # 300 x 32 = 9600 px unshrunk
    sprite, thumbnail_size = utils.create_sprite(images)
    assert max(sprite.shape[:2]) <= 8192
    assert thumbnail_size == (27, 27)


def global_names(code):
    """Every global name a function's code (its comprehensions included) refers to."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if inspect.iscode(constant):
            names |= global_names(constant)
    return names


def test_each_helper_stands_alone_with_its_imports_and_documents_its_arguments():
    helpers = {utils.plot_to_image, utils.image_grid, utils.get_confusion_matrix, utils.plot_confusion_matrix}
    helpers |= {utils.create_sprite, utils.tensorboard_smoothing, utils.read_event_files, utils.hparams_table}
    helpers |= {utils.y_range_without_outliers, utils.scalar_table, utils.write_csv}
    helpers |= {utils.runs_per_directory, utils.counted}
    # utils.py holds only the generic helpers; the TensorBoard calls are in the lessons that teach them.
    assert {value for value in vars(utils).values() if inspect.isfunction(value)} == helpers
    for helper in helpers:
        documentation = inspect.getdoc(helper)
        assert "Args:" in documentation and "Returns:" in documentation, helper.__name__
        # Copied with the module's imports, a helper works: the only globals it uses are imported modules, and the
        # helpers its docstring names (to copy with it).
        used = global_names(helper.__code__) & set(vars(utils)) - {helper.__name__}
        others = {name for name in used if not inspect.ismodule(getattr(utils, name))}
        assert all(f"`{name}`" in documentation for name in others), (helper.__name__, others)


def test_smoothing_is_tensorboards_debiased_moving_average():
    # Worked by hand with weight 0.5: last = 0.5, 1.75, 1.875, (NaN skipped), 2.9375, divided by 1 - 0.5**n.
    smoothed = utils.tensorboard_smoothing([1.0, 3.0, 2.0, math.nan, 4.0], 0.5)
    np.testing.assert_allclose(smoothed, [1.0, 7 / 3, 15 / 7, math.nan, 47 / 15], rtol=1e-12)
    # The Scalars tab's default weight: 0 / 0.4 = 0, then 0.4 / (1 - 0.36); an infinite value is kept, not counted.
    np.testing.assert_allclose(utils.tensorboard_smoothing([0.0, 1.0], 0.6), [0.0, 0.625], rtol=1e-12)
    np.testing.assert_allclose(utils.tensorboard_smoothing([1.0, math.inf, 3.0], 0.5), [1.0, math.inf, 7 / 3])
    # A constant series is drawn as it is, and weight 0 gives the raw values.
    assert list(utils.tensorboard_smoothing([2.0, 2.0, 2.0], 0.6)) == [2.0, 2.0, 2.0]
    assert list(utils.tensorboard_smoothing([3.0, 1.0, 2.0], 0.0)) == [3.0, 1.0, 2.0]


def hparams_content(summary):
    """{tag: content} of an hparams plugin summary, as a data provider lists it."""
    return {value.tag: value.metadata.plugin_data.content for value in summary.value}


def test_hparams_table_is_a_row_per_session_with_declared_metrics_and_integer_hyperparameters():
    from tensorboard.plugins.hparams import api as hp
    from tensorboard.plugins.hparams import summary_v2

    units, rate = hp.HParam("units", hp.Discrete([16, 32])), hp.HParam("rate", hp.RealInterval(0.0, 1.0))
    metrics = [hp.Metric("loss", group="validation"), hp.Metric("accuracy")]
    experiment = hparams_content(summary_v2.hparams_config_pb(hparams=[units, rate], metrics=metrics))
    content = {"sweep": experiment}
    for run, trial_id, width in (("sweep/a", "0", 16), ("sweep/b", "0", 32), ("sweep/c", "1", 16)):
        content[run] = hparams_content(summary_v2.hparams_pb({"rate": 0.5, "units": width}, trial_id=trial_id))
    scalars = pd.DataFrame(
        [("sweep/a/validation", "loss", 2.0), ("sweep/a/validation", "loss", 1.5), ("sweep/a", "accuracy", 0.5)]
        + [("sweep/b/validation", "loss", 1.0), ("sweep/b", "other", 9.0), ("elsewhere", "loss", 7.0)],
        columns=["run", "tag", "value"],
    )
    table = utils.hparams_table(scalars, content)
    # The declared order of hyperparameters and metrics; the last value of each metric; NaN where none was logged.
    assert list(table.columns) == ["run", "trial_id", "units", "rate", "validation/loss", "accuracy"]
    assert list(table.run) == ["sweep/a", "sweep/b", "sweep/c"] and list(table.trial_id) == ["0", "0", "1"]
    assert list(table.units) == [16, 32, 16] and str(table.units.dtype) == "Int64" and list(table.rate) == [0.5] * 3
    assert table["validation/loss"].tolist()[:2] == [1.5, 1.0] and math.isnan(table["validation/loss"][2])
    assert table.accuracy[0] == 0.5 and math.isnan(table.accuracy[1])
    # Without a declaration, every scalar tag of the session's run and below it is a column.
    undeclared = {run: value for run, value in content.items() if run != "sweep"}
    assert list(utils.hparams_table(scalars, undeclared).columns[4:]) == ["accuracy", "validation/loss", "other"]
    assert utils.hparams_table(scalars, {"sweep": experiment}) is None


def test_read_event_files_returns_every_scalar_point_and_the_hparams_summaries(tmp_path):
    from tensorboard.plugins.hparams import api as hp

    with tf.summary.create_file_writer(str(tmp_path / "sweep" / "a")).as_default():
        hp.hparams({"units": 8}, trial_id="0")
        for step in range(12):  # more than EventAccumulator's default sample of 10
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
        tf.summary.text("note", "not a scalar", step=0)
    with tf.compat.v1.Graph().as_default(), tf.compat.v1.Session() as session:  # TF1's simple values
        writer = tf.compat.v1.summary.FileWriter(str(tmp_path / "old"))
        summary = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag="accuracy", simple_value=0.25)])
        writer.add_summary(summary, global_step=3)
        writer.close()
        del session
    scalars, hparams = utils.read_event_files(tmp_path)
    assert list(scalars.columns) == ["run", "tag", "step", "wall_time", "value"]
    assert list(scalars.drop_duplicates(["run", "tag"])[["run", "tag"]].itertuples(index=False, name=None)) == [
        ("old", "accuracy"),
        ("sweep/a", "loss"),
    ]
    loss = scalars[scalars.tag == "loss"]
    assert list(loss.step) == list(range(12)) and loss.wall_time.notna().all()
    np.testing.assert_array_equal(loss.value, np.float32(1.0 / (np.arange(12) + 1)))
    assert scalars[scalars.run == "old"][["step", "value"]].values.tolist() == [[3, 0.25]]
    assert list(hparams) == ["sweep/a"] and "_hparams_/session_start_info" in hparams["sweep/a"]


def test_scalar_table_is_a_row_per_point_in_run_and_tag_order():
    series = [("b", "loss", [0, 1], [5.0, 6.0], np.float32([0.5, 0.25])), ("a", "loss", [2], [7.0], [1.5])]
    series.append(("a", "acc", np.array([], dtype=np.int64), [], []))  # a series with no point adds no row
    table = utils.scalar_table(series)
    assert table.values.tolist() == [
        ["a", "loss", 2, 7.0, 1.5],
        ["b", "loss", 0, 5.0, 0.5],
        ["b", "loss", 1, 6.0, 0.25],
    ]
    assert [str(dtype) for dtype in table.dtypes] == ["category", "category", "int64", "float64", "float64"]
    # The same series in another order give the same table; none give an empty one with the same columns.
    pd.testing.assert_frame_equal(utils.scalar_table(series[::-1]), table)
    assert utils.scalar_table([]).empty and list(utils.scalar_table([]).columns) == list(table.columns)


@pytest.mark.parametrize("pyarrow_installed", [True, False])
def test_write_csv_writes_every_value_in_full_without_the_index(tmp_path, monkeypatch, pyarrow_installed):
    if not pyarrow_installed:
        monkeypatch.setitem(sys.modules, "pyarrow.csv", None)  # import pyarrow.csv raises ImportError
    value = float(np.float32(0.1))  # 0.10000000149011612: a float32 logged, in full
    table = pd.DataFrame({"run": ["a", "b"], "step": [3, 4], "value": [value, 1 / 3]}, index=[10, 11])
    utils.write_csv(table, tmp_path / "out.csv")
    read = pd.read_csv(tmp_path / "out.csv", float_precision="round_trip")
    assert list(read.columns) == ["run", "step", "value"]
    assert read.values.tolist() == [["a", 3, value], ["b", 4, 1 / 3]]


def test_y_range_without_outliers_leaves_out_only_what_is_far_off():
    values = np.concatenate([np.linspace(1.0, 2.0, 50), [195.0]])  # a diverging run's one point
    low, high = utils.y_range_without_outliers(values)
    assert low == pytest.approx(1.0 - 0.05) and high == pytest.approx(2.0 + 0.05)
    # Nothing left out, or too few values: None, so the chart draws everything.
    assert utils.y_range_without_outliers(np.linspace(1.0, 2.0, 50)) is None
    assert utils.y_range_without_outliers([1.0, 100.0]) is None


def test_runs_per_directory_finds_each_directorys_runs_with_the_tag_or_its_first_epoch_loss():
    rows = [("b/2", "epoch_loss"), ("b/1", "batch_loss"), ("b/1", "epoch_loss"), ("a/x/train", "epoch_loss")]
    rows += [("a/x/validation", "epoch_loss"), ("a/x/train", "epoch_accuracy"), ("top", "loss"), ("c/1", "accuracy")]
    scalars = pd.DataFrame(rows * 2, columns=["run", "tag"])  # a row per point: each series has two
    found, without = utils.runs_per_directory(scalars)
    # Directories and their runs in the runs' name order; runs directly under the logdir make the "." panel.
    assert list(found.items()) == [("a", ("epoch_loss", ["a/x/train", "a/x/validation"])),
                                   ("b", ("epoch_loss", ["b/1", "b/2"])), (".", ("loss", ["top"]))]  # fmt: skip
    assert without == ["c"]  # no epoch loss there: no panel
    # Asked for a tag, only the runs that hold it, and every directory without it.
    assert utils.runs_per_directory(scalars, "batch_loss") == ({"b": ("batch_loss", ["b/1"])}, ["a", "c", "."])
    # A directory's first epoch loss by name is its tag: a run without that tag is left out of its panel.
    both = pd.DataFrame([("d/1", "epoch_loss"), ("d/1", "val_loss"), ("d/2", "val_loss")], columns=["run", "tag"])
    assert utils.runs_per_directory(both) == ({"d": ("epoch_loss", ["d/1"])}, [])


def test_counted_says_a_number_with_its_noun_plural_unless_one():
    assert [utils.counted(n, "run") for n in (0, 1, 2, 1200)] == ["0 runs", "1 run", "2 runs", "1,200 runs"]
