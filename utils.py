"""Helpers that turn training data into pictures TensorBoard can show.

Each function stands alone, so you can copy one into your own project with the imports below:
- `plot_to_image`: a matplotlib figure -> an image tensor for `tf.summary.image`;
- `image_grid`: a labelled grid of images as a figure;
- `get_confusion_matrix` / `plot_confusion_matrix`: a confusion matrix as counts, then as a figure;
- `create_sprite`: thumbnails packed into one sprite image for the Projector.
The TensorBoard calls themselves (`tf.summary.image`, the Projector's config) are in the lessons that teach them.
"""

import io
import math

import cv2
import matplotlib

# A file-only backend: no window is opened, so the helpers work on servers, in CI and in notebooks.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


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
        A matplotlib Figure; `plot_to_image` turns it into an image and closes it (else call `plt.close`).
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
        A matplotlib Figure; `plot_to_image` turns it into an image and closes it (else call `plt.close`).
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


def create_sprite(images, max_size=8192):
    """Packs images into one square sprite, row by row, for the Projector.

    Args:
        images: uint8 array of shape (N, H, W, C), C being 1 or 3 (RGB order).
        max_size: the largest side the sprite may have; TensorBoard's Projector refuses more than 8192 pixels.

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
