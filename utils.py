"""Helpers that turn training data into pictures TensorBoard can show.

Each function stands alone, so you can copy one into your own project with the imports below:
- `plot_to_image`: a matplotlib figure -> an image tensor for `tf.summary.image`;
- `image_grid`: a labelled grid of images as a figure;
- `get_confusion_matrix` / `plot_confusion_matrix`: a confusion matrix as counts, then as a figure;
- `create_sprite`: thumbnails packed into one sprite image for the Projector;
- `tensorboard_smoothing`: a curve smoothed as the Scalars tab smooths it;
- `y_range_without_outliers`: a chart's y range that leaves out outliers, as the Scalars tab's option does;
- `scalar_table`: scalar series (run, tag, steps, wall times, values) as one pandas DataFrame, a row per point;
- `read_event_files`: every scalar point of a logdir with TensorBoard's pure-Python reader (no data server);
- `write_csv`: a DataFrame to a CSV file, with pyarrow's faster writer when it is installed;
- `hparams_table`: the HParams dashboard's table, one row per session, as a pandas DataFrame;
- `runs_per_directory`: the runs under each top directory of a logdir that hold a tag, to draw a panel of each;
- `counted`: a number and its noun, plural when it should be ("1 run", "1,200 points"), for summary lines.
The TensorBoard calls themselves (`tf.summary.image`, the Projector's config) are in the lessons that teach them.
"""

import io
import math
import pathlib
import posixpath

import matplotlib

# A file-only backend: no window is opened, so the helpers work on servers, in CI and in notebooks.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_to_image(figure):
    """Renders a matplotlib figure to a PNG and returns it as an image tensor; the figure is closed.

    Args:
        figure: a matplotlib Figure.

    Returns:
        A uint8 tensor of shape (1, height, width, 4), ready for `tf.summary.image`.
    """
    import tensorflow as tf  # here, not at the top: the helpers that need no TensorFlow load without it

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
    import cv2

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


def tensorboard_smoothing(values, weight):
    """Smooths one series as the Scalars tab does: a debiased exponential moving average.

    As TensorBoard's frontend computes it (`classicSmoothing` in tensorboard/webapp/widgets/line_chart_v2/
    data_transformer.ts), with n the number of finite values so far:
        last_0 = 0,   last_n = weight * last_(n-1) + (1 - weight) * value_n,   smoothed_n = last_n / (1 - weight**n)
    Dividing by 1 - weight**n removes the pull towards the 0 the average starts from: smoothed_1 is value_1. That is
    pandas' `ewm(alpha=1 - weight, adjust=True)`, which computes it in one pass.

    Args:
        values: the series, in step order.
        weight: the tab's smoothing slider, from 0 (the raw values) to below 1.

    Returns:
        A float NumPy array as long as `values`. A non-finite value (NaN, inf) is kept as it is and not counted;
        a constant series is returned as it is.
    """
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    if weight == 0 or len(values) == 0 or np.all(values == values[0]):
        return values.copy()
    smoothed = pd.Series(np.where(finite, values, np.nan)).ewm(alpha=1 - weight, ignore_na=True).mean().to_numpy()
    return np.where(finite, smoothed, values)


def y_range_without_outliers(values):
    """A y range that leaves out the outliers, in the spirit of the Scalars tab's "Ignore outliers in chart scaling".

    Args:
        values: every value a chart draws.

    Returns:
        (low, high): the range of the values that lie outside their 5th-95th percentile range by no more than its
        width, plus a 5% margin; None, to draw everything, when no value is left out (or there are two or fewer).
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) <= 2:
        return None
    low, high = np.percentile(values, [5, 95])
    kept = values[(low - (high - low) <= values) & (values <= high + (high - low))]
    if len(kept) == len(values):
        return None
    margin = 0.05 * (kept.max() - kept.min()) or 0.05 * abs(kept.max()) or 0.05
    return kept.min() - margin, kept.max() + margin


def scalar_table(series):
    """Scalar series as one DataFrame, a row per point, series in (run, tag) order so that two reads give one table.

    Args:
        series: an iterable of (run, tag, steps, wall_times, values), the last three arrays of one series's points.

    Returns:
        A DataFrame with columns run and tag (pandas categories: a label per series, not per point), step (int64),
        wall_time and value (float64).
    """
    series = sorted(series, key=lambda item: item[:2])
    lengths = [len(steps) for _, _, steps, _, _ in series]
    columns = {}
    for name, index in (("run", 0), ("tag", 1)):
        labels = pd.Categorical([item[index] for item in series])
        columns[name] = pd.Categorical.from_codes(np.repeat(labels.codes, lengths), labels.categories)
    for name, index, dtype in (("step", 2, np.int64), ("wall_time", 3, np.float64), ("value", 4, np.float64)):
        columns[name] = np.concatenate([item[index] for item in series]).astype(dtype) if series else []
    return pd.DataFrame(columns)


def read_event_files(logdir):
    """Reads every scalar point under `logdir`, and the HParams summaries, with TensorBoard's `EventFileLoader`.

    TensorBoard's pure-Python reader, for where its data server is not available: it keeps every event (no
    downsampling), and turns TF1's simple values into the tensors that TF2 writes. A tag's metadata (its plugin)
    comes with its first event only, so it is remembered per run and tag.

    Args:
        logdir: a directory; each directory at or below it that holds event files is a run.

    Returns:
        (scalars, hparams): scalars a DataFrame of every point (`scalar_table`'s columns: run, tag, step, wall_time,
        value); hparams {run: {tag: bytes}}, the content of the hparams plugin's summaries in each run.
    """
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util

    series, hparams, plugins = {}, {}, {}
    for path in sorted(pathlib.Path(logdir).rglob("*tfevents*")):
        run = path.parent.relative_to(logdir).as_posix()
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugin = plugins.setdefault((run, value.tag), value.metadata.plugin_data.plugin_name)
                if plugin == "scalars":
                    steps, wall_times, values = series.setdefault((run, value.tag), ([], [], []))
                    steps.append(event.step)
                    wall_times.append(event.wall_time)
                    values.append(tensor_util.make_ndarray(value.tensor).item())
                elif plugin == "hparams":
                    hparams.setdefault(run, {})[value.tag] = value.metadata.plugin_data.content
    return scalar_table((run, tag, *map(np.array, columns)) for (run, tag), columns in series.items()), hparams


def write_csv(table, path):
    """Writes a DataFrame to a CSV file without its index, each float in full (it reads back to the same value).

    Args:
        table: a pandas DataFrame.
        path: the file to write.

    Returns:
        None. pyarrow's writer is used when pyarrow is installed (about 5x faster on a million rows), else pandas'.
    """
    try:
        import pyarrow.csv
    except ImportError:
        table.to_csv(path, index=False)
        return
    pyarrow.csv.write_csv(pyarrow.Table.from_pandas(table, preserve_index=False), path)


def hparams_table(scalars, hparams_content):
    """The HParams dashboard's table as a DataFrame: one row per session (a trial), with its run directory.

    A session is a run holding the hparams plugin's session-start summary (`hp.hparams`, `hp.KerasCallback`): its
    hyperparameters and its trial id (the dashboard's group name). Its metric columns are those declared by the
    experiment summary (`hp.hparams_config`) nearest at or above its run, each a (group, tag) whose value is the
    last point of `tag` in the run `<session>/<group>`; with no declaration (KerasTuner writes none), every scalar
    tag in the session's run and below it. The dashboard averages sessions that share a trial id into one row;
    here each keeps its own row, so `trial_id.duplicated(keep=False)` finds the rows it would merge.

    Args:
        scalars: a DataFrame of scalar points with columns `run`, `tag` and `value`, each series in step order.
        hparams_content: {run: {tag: bytes}}, the content of the hparams plugin's summaries in each run (what a
            TensorBoard data provider's `list_tensors(plugin_name="hparams")` holds as `plugin_content`).

    Returns:
        A DataFrame sorted by run: `run`, `trial_id`, the hyperparameters (a column of whole numbers as integers),
        then the metrics (`group/tag`, NaN where a session logged none); None when no run holds a session.
    """
    from tensorboard.plugins.hparams import metadata

    last_values = scalars.groupby(["run", "tag"], observed=True, sort=False)["value"].last()

    def declaration(run):
        while True:
            content = hparams_content.get(run, {})
            if metadata.EXPERIMENT_TAG in content:
                return metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
            if run in (".", ""):
                return None
            run = posixpath.dirname(run) or "."

    rows, hparam_names, metric_names = [], {}, {}
    for run in sorted(hparams_content):
        if metadata.SESSION_START_INFO_TAG not in hparams_content[run]:
            continue
        start = metadata.parse_session_start_info_plugin_data(hparams_content[run][metadata.SESSION_START_INFO_TAG])
        experiment = declaration(run)
        declared = [info.name for info in experiment.hparam_infos] if experiment else []
        row = {"run": run, "trial_id": start.group_name or run}
        for name in [name for name in declared if name in start.hparams] + sorted(start.hparams):
            value = start.hparams[name]
            row[name] = getattr(value, value.WhichOneof("kind")) if value.WhichOneof("kind") else None
            hparam_names[name] = None
        if experiment:
            columns = [(metric.name.group, metric.name.tag) for metric in experiment.metric_infos]
        else:
            below = [(r, t) for r, t in last_values.index if r == run or r.startswith(f"{run}/")]
            columns = sorted({("" if r == run else posixpath.relpath(r, run), t) for r, t in below})
        for group, tag in columns:
            name = f"{group}/{tag}" if group else tag
            metric_names[name] = None
            row[name] = last_values.get((posixpath.normpath(posixpath.join(run, group)), tag), math.nan)
        rows.append(row)
    if not rows:
        return None
    table = pd.DataFrame(rows, columns=["run", "trial_id", *hparam_names, *metric_names])
    for name in hparam_names:
        column = table[name]
        # Hyperparameters are logged as floats (32.0): a column of whole numbers goes back to integers.
        if pd.api.types.is_float_dtype(column) and np.all(column.dropna() % 1 == 0):
            table[name] = column.astype("Int64")
    return table


def runs_per_directory(scalars, tag=None):
    """The runs under each top directory of a logdir that hold a tag: one panel of a figure per directory.

    Args:
        scalars: a DataFrame of scalar points with columns `run` (a path under the logdir) and `tag`.
        tag: the tag to find in every directory; None for each directory's first epoch loss by name (a tag ending in
            "loss", "batch" not in it), as Keras and the lessons log it.

    Returns:
        ({directory: (tag, [runs])}, [directories]): the directories that hold the tag, each with its runs that hold
        it ("." for runs directly in the logdir); then the directories without it. All in the runs' name order.
    """
    found, seen = {}, {}
    for run, name in scalars[["run", "tag"]].drop_duplicates().sort_values(["run", "tag"]).itertuples(index=False):
        directory = run.split("/")[0] if "/" in run else "."
        seen[directory] = None
        epoch_loss = name if name.endswith("loss") and "batch" not in name else None
        wanted = tag or (found[directory][0] if directory in found else epoch_loss)
        if name == wanted:
            found.setdefault(directory, (name, []))[1].append(run)
    return found, [directory for directory in seen if directory not in found]


def counted(number, noun):
    """A number and its noun, plural unless the number is 1, for the lines a script prints.

    Args:
        number: an integer.
        noun: the singular noun; its plural adds an "s".

    Returns:
        A string such as "1 run", "0 tags" or "1,200 points" (thousands separated by commas).
    """
    return f"{number:,} {noun}{'s' * (number != 1)}"
