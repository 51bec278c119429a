"""
Title: Mesh: the CNN's learned features of held-out images as a 3D point cloud, epoch by epoch
Description: The mesh plugin's summary draws points in 3D: one per image, coloured by class, placed by a PCA.

TensorBoard tabs: Mesh (drag to turn it, scroll to zoom; step 0 is the untrained model, step e after epoch e), Text.
Run it:   python 18_mesh.py      (or --quick for a smoke test)
View it:  tensorboard --logdir logs/18_mesh/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.mesh import summary_v2 as mesh_summary

import plumbing
import starter

LESSON = "18_mesh"  # its logs go to <logdir>/18_mesh/


# ## The points: held-out images, seen through the CNN
#
# Each point is one held-out test image. Where it sits is what the CNN makes of it: the 64 outputs of its
# penultimate layer, named `features` in `starter.build_cnn`. Before training those outputs are a random mix of
# pixels; as the model learns, images of one class get similar features and the classes pull apart.

POINTS = 500  # the first held-out test images (all of them on digits, which holds 360)


def feature_extractor(model):
    """A model that maps images to the output of `model`'s `features` layer (sharing its weights)."""
    return keras.Model(model.inputs, model.get_layer("features").output)


# ## From 64 dimensions to 3: a PCA
#
# Principal component analysis finds the three directions in which the features spread the most, and each image
# becomes its three coordinates along them. NumPy's singular value decomposition gives those directions. Each
# epoch has its own PCA, since the features change; a direction's sign is arbitrary, so each axis is turned to
# agree with the previous epoch's cloud (the same images, in the same order): where an axis's coordinates
# correlate negatively with the previous ones, it is mirrored. Without that, the cloud would flip over from one
# epoch to the next. The points are scaled to fit in a unit cube, so the camera below sees the whole cloud at
# every epoch.


def pca_3d(features, previous=None):
    """(N, 3) float32: `features` (N, D) projected onto their first three principal components, within [-1, 1],
    each axis's sign chosen to agree with `previous` (N, 3), the same points' last cloud, if given."""
    centered = features - features.mean(axis=0)
    _, _, directions = np.linalg.svd(centered, full_matrices=False)
    points = centered @ directions[:3].T
    if previous is not None:
        points *= np.where((points * previous).sum(axis=0) < 0, -1.0, 1.0)
    return (points / max(np.abs(points).max(), 1e-12)).astype(np.float32)


# ## One colour per class, and a legend
#
# The colours are matplotlib's ten "tab10" colours, by name, so the legend can say which is which. The legend
# goes where a learner looks: the printed output and the Text tab (a Markdown table). The mesh's description holds
# it too, but the Mesh tab does not show descriptions.

COLOURS = {
    "blue": (31, 119, 180),
    "orange": (255, 127, 14),
    "green": (44, 160, 44),
    "red": (214, 39, 40),
    "purple": (148, 103, 189),
    "brown": (140, 86, 75),
    "pink": (227, 119, 194),
    "gray": (127, 127, 127),
    "olive": (188, 189, 34),
    "cyan": (23, 190, 207),
}


def point_colours(labels):
    """(N, 3) uint8: the RGB colour of each point's class."""
    return np.array(list(COLOURS.values()), dtype=np.uint8)[labels]


def legend(class_names):
    """The class of each colour, as one line and as a Markdown table."""
    pairs = list(zip(class_names, COLOURS, strict=False))
    line = ", ".join(f"{name} {colour}" for name, colour in pairs)
    table = "\n".join(["| class | colour |", "|---|---|", *(f"| {name} | {colour} |" for name, colour in pairs)])
    return line, table


# ## The mesh summary: the piece to copy
#
# This is the TensorBoard part. `mesh_summary.mesh` writes vertices shaped (1, N, 3) and, optionally, one RGB
# colour per vertex (1, N, 3, uint8); without faces the Mesh tab draws the vertices as a point cloud. The
# `config_dict` is handed to three.js, which draws the scene: a perspective camera, and points 0.03 wide (in the
# units of the coordinates, so about a sixtieth of the cloud), large enough to see and small enough to see
# through. `step` puts each cloud on the tab's step slider.

MESH_CONFIG = {
    "camera": {"cls": "PerspectiveCamera", "fov": 75},
    "material": {"cls": "PointsMaterial", "size": 0.03},
}


def log_cloud(writer, points, colours, description, step):
    with writer.as_default():
        mesh_summary.mesh(
            "features",
            vertices=points[np.newaxis],
            colors=colours[np.newaxis],
            config_dict=MESH_CONFIG,
            step=step,
            description=description,
        )


# ## The training loop
#
# The held-out images go through the untrained model up to its `features` layer, and their cloud is logged at
# step 0: random features, classes mixed. Then the starter's CNN trains one epoch at a time
# (`starter.train_epoch`), and the cloud after epoch e is logged at step e (from 1), so even a one-epoch run
# shows the before and after. `main` closes the writer in `finally`, which keeps every cloud logged so far when
# Ctrl-C stops the run.


def train_and_log(dataset, args, writer):
    """Logs the cloud of POINTS held-out images before training (step 0) and after each of `args.epochs` epochs
    (steps 1, 2, ...); returns how many points each cloud holds, and the legend's line."""
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    images, labels = next(iter(starter.test_pipeline(dataset, POINTS)))
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3))
    features_of = feature_extractor(model)
    colours = point_colours(labels.numpy())
    line, table = legend(dataset.class_names)
    with writer.as_default():
        tf.summary.text("legend", table, step=0)
    description = f"{len(labels)} held-out test images, coloured by class: {line}."
    points = pca_3d(features_of(images, training=False).numpy())
    log_cloud(writer, points, colours, description, step=0)
    for epoch in range(args.epochs):
        starter.train_epoch(steps, train_batches, epoch, args.epochs)
        points = pca_3d(features_of(images, training=False).numpy(), previous=points)
        log_cloud(writer, points, colours, description, step=epoch + 1)
    return len(labels), line


# ## Run the lesson
#
# The closing lines give the legend again and say how to move around the cloud.


def make_parser():
    return plumbing.make_parser("Log the CNN's features of held-out images as a 3D point cloud in the Mesh tab.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    writer = tf.summary.create_file_writer(str(run_dir))
    try:
        points, line = train_and_log(dataset, args, writer)
    finally:
        writer.close()
    print(f"Each cloud holds {points} held-out test images, one colour per class: {line}.")
    plumbing.print_view_command(run_dir, "Mesh")
    print("In the Mesh tab, drag to turn the cloud and scroll to zoom; step 0 is the untrained model, step e the")
    print("model after epoch e: slide the step to watch the classes pull apart.")


if __name__ == "__main__":
    ctrl_c.run(main)
