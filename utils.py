"""Helpers that turn training data into things TensorBoard can show.

Each function stands alone, so you can copy one into your own project with its imports:
- `plot_to_image`: a matplotlib figure -> an image tensor for `tf.summary.image`;
- `image_grid`: a labelled grid of images as a figure;
- `get_confusion_matrix` / `plot_confusion_matrix`: a confusion matrix as counts, then as a figure;
- `create_sprite`: thumbnails packed into one sprite image for the Projector;
- `write_projector`: embeddings, metadata, sprite and config for the Projector tab, in one call;
- `pr_curve_summaries`: one precision-recall curve per class, as summaries for the PR Curves tab.
"""

import io
import math
from pathlib import Path

import cv2
import matplotlib

# A file-only backend: no window is opened, so the helpers work on servers, in CI and in notebooks.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# TensorBoard's Projector refuses a sprite larger than this on either side.
MAX_SPRITE_SIZE = 8192


def plot_to_image(figure):
    """Renders a matplotlib figure to a PNG and returns it as an image tensor; the figure is closed.

    Args:
        figure: a matplotlib Figure.

    Returns:
        A uint8 tensor of shape (1, height, width, 4), ready for `tf.summary.image`.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    # Closing the figure here frees its memory; a training loop that logs a figure every epoch would
    # otherwise keep them all alive.
    plt.close(figure)
    image = tf.image.decode_png(buffer.getvalue(), channels=4)
    return tf.expand_dims(image, 0)


def image_grid(images, labels, class_names, title=None):
    """Plots images in a square grid, each titled with its class name.

    Args:
        images: an array of shape (N, H, W, C), C being 1 (shown in grayscale) or 3, with values in
            [0, 1] (floats) or 0..255 (uint8).
        labels: N integer class indices.
        class_names: the name of each class index.
        title: an optional title above the grid.

    Returns:
        A matplotlib Figure; pass it to `plot_to_image`.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    side = math.ceil(math.sqrt(len(images)))
    figure, axes = plt.subplots(side, side, figsize=(1.6 * side, 1.7 * side), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= len(images):
            continue
        image = images[index]
        if image.shape[-1] == 1:
            axis.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255 if image.dtype == np.uint8 else 1)
        else:
            axis.imshow(image)
        axis.set_title(class_names[int(labels[index])], fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def get_confusion_matrix(true_labels, predicted_labels, num_classes):
    """Counts (true, predicted) pairs into a num_classes x num_classes matrix.

    The class axis is fixed, so a batch that lacks a class still gives a full matrix, and the counts of
    several batches can simply be added up.

    Args:
        true_labels: N integer class indices.
        predicted_labels: N integer class indices.
        num_classes: the number of classes.

    Returns:
        An int64 array `counts` where counts[t, p] is how many samples of true class t were predicted as p.
    """
    true_labels = np.asarray(true_labels, dtype=np.int64).ravel()
    predicted_labels = np.asarray(predicted_labels, dtype=np.int64).ravel()
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (true_labels, predicted_labels), 1)
    return counts


def plot_confusion_matrix(counts, class_names):
    """Plots a confusion matrix, normalized per row, with true labels on the y axis.

    Each row shows where the samples of one true class went, so the diagonal is each class's recall.
    The colours and the printed numbers show the same normalized values. A class with no samples gets
    a row of zeros, not NaN.

    Args:
        counts: a (num_classes, num_classes) array from `get_confusion_matrix`.
        class_names: the name of each class index.

    Returns:
        A matplotlib Figure; pass it to `plot_to_image`.
    """
    counts = np.asarray(counts, dtype=np.float64)
    row_totals = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)

    size = len(class_names)
    figure, axis = plt.subplots(figsize=(max(6, 0.7 * size), max(6, 0.7 * size)))
    # imshow draws normalized[row, column] at y=row, x=column: true classes run down, predictions across.
    picture = axis.imshow(normalized, interpolation="nearest", cmap=plt.cm.Blues, vmin=0.0, vmax=1.0)
    figure.colorbar(picture, ax=axis, fraction=0.046, pad=0.04)
    ticks = np.arange(size)
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    for row in range(size):
        for column in range(size):
            value = normalized[row, column]
            colour = "white" if value > 0.5 else "black"
            axis.text(column, row, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=8)
    axis.set_ylabel("True label")
    axis.set_xlabel("Predicted label")
    axis.set_title("Confusion matrix (each row sums to 1)")
    figure.tight_layout()
    return figure


def create_sprite(images, max_size=MAX_SPRITE_SIZE):
    """Packs images into one square sprite, row by row, for the Projector.

    Args:
        images: uint8 array of shape (N, H, W, C), C being 1 or 3 (RGB order).
        max_size: the largest side the sprite may have; TensorBoard refuses more than 8192 pixels.

    Returns:
        (sprite, thumbnail_size): an (S, S, 3) uint8 RGB array, padded with black after the last image,
        and the (height, width) of each thumbnail. Thumbnails are shrunk when the grid would be larger
        than `max_size`.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"create_sprite expects uint8 images, got {images.dtype}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    count, height, width = images.shape[:3]
    side = math.ceil(math.sqrt(count))
    scale = min(1.0, max_size / (side * height), max_size / (side * width))
    if scale < 1.0:
        height = max(1, math.floor(height * scale))
        width = max(1, math.floor(width * scale))
        images = np.stack([cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) for image in images])
    sprite = np.zeros((side * height, side * width, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, side)
        sprite[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return sprite, (height, width)


def write_projector(run_dir, embeddings, labels, class_names, images=None):
    """Writes everything the Projector tab needs into `run_dir`, like PyTorch's `add_embedding`.

    Files written: `<name>.tsv` for each embedding (one point per line, its values separated by tabs),
    `metadata.tsv` (one class name per point), `sprite.png` (when images are given), `projector_config.pbtxt`
    with paths relative to `run_dir`, and an event file, without which `tensorboard --logdir <parent>` does not
    list the run. The Projector's menu then names each tensor by its key in `embeddings`.

    Args:
        run_dir: an existing directory; one Projector run.
        embeddings: a dict {name: array of shape (N, D)}; every embedding describes the same N points.
        labels: N integer class indices.
        class_names: the name of each class index.
        images: optional uint8 array (N, H, W, C) in RGB order, shown as the points' thumbnails.

    Returns:
        The dict {name: the tensor file's name}, e.g. {"features": "features.tsv"}.
    """
    from tensorboard.plugins import projector

    run_dir = Path(run_dir)
    labels = np.asarray(labels)
    for name, points in embeddings.items():
        if len(points) != len(labels):
            raise ValueError(f"embedding {name!r} has {len(points)} points but there are {len(labels)} labels")

    # With a single column, metadata.tsv has no header line: row i describes point i.
    with open(run_dir / "metadata.tsv", "w", encoding="utf-8") as metadata_file:
        for label in labels:
            metadata_file.write(f"{class_names[int(label)]}\n")

    thumbnail_size = None
    if images is not None:
        sprite, thumbnail_size = create_sprite(images)
        # OpenCV writes BGR; without this conversion red and blue would swap in the Projector.
        cv2.imwrite(str(run_dir / "sprite.png"), cv2.cvtColor(sprite, cv2.COLOR_RGB2BGR))

    # The tensors go into TSV files, the format of the standalone projector (projector.tensorflow.org) too, so
    # that the Projector's menu shows each under its own name (`tensor_name`). A tf.train.Checkpoint works as
    # well, but the menu then shows its keys, "features/.ATTRIBUTES/VARIABLE_VALUE", and the config has no
    # separate display name.
    config = projector.ProjectorConfig()
    tensor_files = {}
    for name, points in embeddings.items():
        tensor_files[name] = f"{name}.tsv"
        # float32 carries about seven significant decimal digits: more would only make the file longer.
        np.savetxt(run_dir / tensor_files[name], np.asarray(points, dtype=np.float32), fmt="%.7g", delimiter="\t")
        embedding = config.embeddings.add()
        embedding.tensor_name = name
        # TensorBoard only accepts paths relative to the run directory.
        embedding.tensor_path = tensor_files[name]
        embedding.metadata_path = "metadata.tsv"
        if thumbnail_size is not None:
            embedding.sprite.image_path = "sprite.png"
            embedding.sprite.single_image_dim.extend([thumbnail_size[1], thumbnail_size[0]])
    projector.visualize_embeddings(str(run_dir), config)

    # The Projector lists only runs whose directory holds an event file, so write a small one.
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        summary = ", ".join(f"{name} ({np.shape(points)[1]} dimensions)" for name, points in embeddings.items())
        tf.summary.text("projector", f"{len(labels)} points; embeddings: {summary}", step=0)
    writer.close()
    return tensor_files


def pr_curve_summaries(true_labels, probabilities, class_names, num_thresholds=201):
    """One precision-recall curve per class (that class against all the others), for the PR Curves tab.

    TensorFlow 2 has no op for PR curves, so each curve is built with TensorBoard's own
    `pr_curve.summary.pb` and written by the caller with `tf.summary.experimental.write_raw_pb`:

        with writer.as_default():
            for summary in pr_curve_summaries(true_labels, probabilities, class_names):
                tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=epoch)

    At each of `num_thresholds` thresholds t, evenly spaced in [0, 1], an example counts as predicted
    positive for a class when its probability of that class is at least t (as in scikit-learn's
    `precision_recall_curve`). Where nothing is predicted positive, precision is stored as 0.

    Args:
        true_labels: N integer class indices.
        probabilities: an (N, num_classes) array of predicted class probabilities in [0, 1], for
            example the softmax of a model's logits (not the logits themselves).
        class_names: the name of each class index; class `name` gets the tag "<name>/pr_curves".
        num_thresholds: how many thresholds each curve is measured at (at least 2).

    Returns:
        A list of TensorBoard `summary_pb2.Summary` protos, one per class in class order. Each holds a float32
        tensor of shape (6, num_thresholds): true positives, false positives, true negatives, false
        negatives, precision and recall at each threshold, from t = 0 to t = 1.
    """
    from tensorboard.plugins.pr_curve import summary as pr_curve_summary

    true_labels = np.asarray(true_labels, dtype=np.int64).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.shape != (len(true_labels), len(class_names)):
        raise ValueError(
            f"probabilities must have shape (examples, classes) = {(len(true_labels), len(class_names))}, "
            f"got {probabilities.shape}"
        )
    # A little rounding above 1 is normal for a float32 softmax; anything further out means logits.
    tolerance = 1e-5
    if probabilities.size and (probabilities.min() < -tolerance or probabilities.max() > 1 + tolerance):
        raise ValueError("probabilities must lie in [0, 1]: pass the softmax of the logits, not the logits")
    probabilities = np.clip(probabilities, 0.0, 1.0)

    summaries = []
    for class_index, name in enumerate(class_names):
        summaries.append(
            pr_curve_summary.pb(
                name,
                labels=true_labels == class_index,
                predictions=probabilities[:, class_index],
                num_thresholds=num_thresholds,
                description=f"Class {name!r} against all other classes.",
            )
        )
    return summaries
