"""Unit tests for every helper in utils.py."""

import matplotlib.pyplot as plt
import numpy as np
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
    assert max(sprite.shape[:2]) <= utils.MAX_SPRITE_SIZE
    assert thumbnail_size == (27, 27)


def test_write_projector_writes_tensors_metadata_sprite_and_config(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins import projector

    rng = np.random.default_rng(0)
    features = rng.random((7, 4)).astype(np.float32)
    pixels = rng.random((7, 12)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2, 0])
    images = np.zeros((7, 6, 6, 3), dtype=np.uint8)
    images[0, ..., 0] = 255  # the first image is pure red

    tensor_files = utils.write_projector(
        tmp_path, {"features": features, "pixels": pixels}, labels, CLASS_NAMES, images
    )
    assert tensor_files == {"features": "features.tsv", "pixels": "pixels.tsv"}

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
        assert list(embedding.sprite.single_image_dim) == [6, 6]

    # One point per line, its values separated by tabs, as TensorBoard's projector plugin reads them.
    np.testing.assert_allclose(np.loadtxt(tmp_path / "features.tsv", delimiter="\t"), features, rtol=1e-6)
    np.testing.assert_allclose(np.loadtxt(tmp_path / "pixels.tsv", delimiter="\t"), pixels, rtol=1e-6)

    sprite = tf.io.decode_png((tmp_path / "sprite.png").read_bytes()).numpy()
    assert sprite.shape == (18, 18, 3)
    # Red stays red: the sprite is written in the channel order a PNG viewer expects.
    np.testing.assert_array_equal(sprite[0, 0], [255, 0, 0])

    assert list(tmp_path.glob("events.out.tfevents.*")), "the Projector lists only runs with an event file"


def test_write_projector_rejects_embeddings_and_labels_of_different_lengths(tmp_path):
    with pytest.raises(ValueError, match="3 points but there are 2 labels"):
        utils.write_projector(tmp_path, {"features": np.zeros((3, 2))}, [0, 1], CLASS_NAMES)


# ----- pr_curve_summaries -------------------------------------------------------------------------------

# Five examples of three classes; each row sums to 1 and no probability sits on a threshold of the 5-point grid.
PR_LABELS = [0, 0, 1, 2, 1]
PR_PROBABILITIES = [
    [0.9, 0.05, 0.05],
    [0.6, 0.3, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.2, 0.7],
    [0.4, 0.45, 0.15],
]


def _pr_data(summary):
    """The (6, num_thresholds) tensor of a PR-curve summary, as the PR Curves tab reads it."""
    from tensorboard.util import tensor_util

    (value,) = summary.value
    return tensor_util.make_ndarray(value.tensor)


def test_pr_curve_summaries_give_one_tag_per_class_named_after_it_with_the_pr_curves_plugin():
    from tensorboard.plugins.pr_curve import metadata

    summaries = utils.pr_curve_summaries(PR_LABELS, PR_PROBABILITIES, CLASS_NAMES, num_thresholds=5)
    assert [summary.value[0].tag for summary in summaries] == ["zero/pr_curves", "one/pr_curves", "two/pr_curves"]
    for summary in summaries:
        plugin_data = summary.value[0].metadata.plugin_data
        assert plugin_data.plugin_name == "pr_curves"
        assert metadata.parse_plugin_metadata(plugin_data.content).num_thresholds == 5
        assert _pr_data(summary).shape == (6, 5)


def test_pr_curve_summaries_hold_the_hand_computed_counts_precision_and_recall():
    summaries = utils.pr_curve_summaries(PR_LABELS, PR_PROBABILITIES, CLASS_NAMES, num_thresholds=5)
    tp, fp, tn, fn, precision, recall = _pr_data(summaries[0])
    # Class "zero": positives score 0.9 and 0.6, negatives 0.3, 0.1 and 0.4. At each threshold
    # t = 0, 0.25, 0.5, 0.75, 1 an example is predicted positive when its score is at least t.
    np.testing.assert_array_equal(tp, [2, 2, 2, 1, 0])
    np.testing.assert_array_equal(fp, [3, 2, 0, 0, 0])
    np.testing.assert_array_equal(tn, [0, 1, 3, 3, 3])
    np.testing.assert_array_equal(fn, [0, 0, 0, 1, 2])
    # Nothing is predicted positive at t = 1: the summary stores precision 0 there.
    np.testing.assert_allclose(precision, [2 / 5, 2 / 4, 1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(recall, [1, 1, 1, 0.5, 0], atol=1e-6)
    # Class "two" has one positive (0.7) among four negatives (0.05, 0.1, 0.1, 0.15).
    tp, fp, _, _, precision, recall = _pr_data(summaries[2])
    np.testing.assert_array_equal(tp, [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(fp, [4, 0, 0, 0, 0])
    np.testing.assert_allclose(precision, [1 / 5, 1, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(recall, [1, 1, 1, 0, 0], atol=1e-6)


def test_pr_curve_summaries_agree_with_sklearn_precision_recall_curve():
    from sklearn.metrics import precision_recall_curve

    rng = np.random.default_rng(0)
    num_classes, num_thresholds = 4, 11
    labels = rng.integers(0, num_classes, 300)
    probabilities = rng.dirichlet(np.ones(num_classes), 300)
    # Make the scores informative, so the curves are not flat.
    probabilities[np.arange(300), labels] += 0.5
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = [f"class_{index}" for index in range(num_classes)]
    summaries = utils.pr_curve_summaries(labels, probabilities, names, num_thresholds=num_thresholds)
    for class_index, summary in enumerate(summaries):
        *_, precision, recall = _pr_data(summary)
        scores = probabilities[:, class_index].astype(np.float32)
        sk_precision, sk_recall, sk_thresholds = precision_recall_curve(labels == class_index, scores)
        compared = 0
        for k, threshold in enumerate(np.linspace(0, 1, num_thresholds)):
            # scikit-learn's curve has a point at every distinct score; "score >= t" predicts the same
            # examples positive as "score >= the smallest score that is at least t".
            at_or_above = np.flatnonzero(sk_thresholds >= threshold)
            if len(at_or_above) == 0:
                continue
            point = at_or_above[0]
            assert precision[k] == pytest.approx(sk_precision[point], abs=1e-6)
            assert recall[k] == pytest.approx(sk_recall[point], abs=1e-6)
            compared += 1
        assert compared >= 5
        assert np.all((precision >= 0) & (precision <= 1)) and np.all((recall >= 0) & (recall <= 1))


def test_pr_curve_summaries_written_with_write_raw_pb_are_read_back_by_tensorboard(tmp_path):
    import tb_read

    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(2):
            for summary in utils.pr_curve_summaries(PR_LABELS, PR_PROBABILITIES, CLASS_NAMES, num_thresholds=5):
                tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)
    writer.close()
    run = tb_read.load(tmp_path)
    assert tb_read.plugin_tags(run, "pr_curves") == {f"{name}/pr_curves" for name in CLASS_NAMES}
    series = tb_read.tensor_values(run, "zero/pr_curves")
    assert [step for step, _ in series] == [0, 1]
    np.testing.assert_allclose(series[0][1][4], [2 / 5, 2 / 4, 1, 1, 0], atol=1e-6)


def test_pr_curve_summaries_reject_logits_and_a_wrong_number_of_classes():
    with pytest.raises(ValueError, match="softmax"):
        utils.pr_curve_summaries([0, 1], [[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]], CLASS_NAMES)
    with pytest.raises(ValueError, match="shape"):
        utils.pr_curve_summaries([0, 1], [[0.5, 0.5], [0.5, 0.5]], CLASS_NAMES)
