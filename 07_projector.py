"""
Title: The embedding projector: what the model has learned, in 3D
Description: Embed held-out images with the CNN's penultimate layer and explore them in the Projector.

TensorBoard tab: Projector (in the menu at the top right if it is not among the tabs). Pick `features` or
`pixels` in its tensor menu, "Color by" label, then try PCA and T-SNE.
Run it:   python 07_projector.py             (or --quick for a smoke test; --points N to embed more images)
View it:  tensorboard --logdir logs/07_projector/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

import plumbing
import starter
import utils

LESSON = "07_projector"  # its logs go to <logdir>/07_projector/
DEFAULT_POINTS = 500

# ## A trained model and the images to embed
#
# The Projector shows points in a space of many dimensions, projected down to three. Here each point is one
# held-out test image, and its coordinates are what the CNN makes of it: the 64 outputs of its penultimate
# layer, named `features` in `starter.build_cnn`. Images of a class that the model has learned to tell apart
# form clusters there. The raw pixels (what the video embedded) go in as a second tensor, for comparison: they
# are far less separated.


def train_cnn(dataset, args):
    """A CNN trained for `args.epochs` epochs on the training split."""
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=starter.make_loss(), metrics=["accuracy"])
    # shuffle=False: the training pipeline shuffles itself (Keras ignores the flag for a tf.data.Dataset).
    model.fit(starter.train_pipeline(dataset, args.batch_size), epochs=args.epochs, verbose=2, shuffle=False)
    return model


def held_out_sample(dataset, count):
    """The first `count` test images, as uint8 (for the sprite) and with their labels."""
    images, labels = [], []
    for image, label in dataset.test.take(count):
        images.append(image.numpy())
        labels.append(int(label))
    return np.stack(images), np.array(labels)


def embed(model, images):
    """{name: an (N, dimensions) array}: the output of the model's `features` layer, and the pixels themselves."""
    feature_extractor = keras.Model(model.inputs, model.get_layer("features").output)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
    features = feature_extractor.predict(pixels.reshape(images.shape), verbose=0)
    return {"features": features, "pixels": pixels}


# ## The files the Projector reads
#
# The Projector reads plain files from the run directory, in the formats of the standalone projector at
# projector.tensorflow.org. Each tensor is a TSV file: a point per line, its values separated by tabs.
# `metadata.tsv` holds one label per point, in the same order (with a single column, it has no header line). An
# optional sprite packs every thumbnail into one PNG (`utils.create_sprite`). Keras 3's callback flag
# `embeddings_freq` writes an .h5 file the Projector can't read, so the lesson writes these files itself.


def write_projector_files(run_dir, embeddings, labels, class_names, images=None):
    """Writes `<name>.tsv` for each embedding, `metadata.tsv` and (when images are given) `sprite.png`.

    Returns:
        (tensor_files, thumbnail_size): {name: its TSV file's name}, and the (height, width) of each
        thumbnail in the sprite, or None without images.
    """
    run_dir = Path(run_dir)
    for name, points in embeddings.items():
        if len(points) != len(labels):
            raise ValueError(f"embedding {name!r} has {len(points)} points but there are {len(labels)} labels")
    (run_dir / "metadata.tsv").write_text("".join(f"{class_names[int(label)]}\n" for label in labels), encoding="utf-8")
    tensor_files = {}
    for name, points in embeddings.items():
        tensor_files[name] = f"{name}.tsv"
        # float32 carries about seven significant decimal digits: more would only make the file longer.
        np.savetxt(run_dir / tensor_files[name], np.asarray(points, dtype=np.float32), fmt="%.7g", delimiter="\t")
    thumbnail_size = None
    if images is not None:
        sprite, thumbnail_size = utils.create_sprite(images)
        # OpenCV writes BGR; without this conversion red and blue would swap in the Projector.
        cv2.imwrite(str(run_dir / "sprite.png"), cv2.cvtColor(sprite, cv2.COLOR_RGB2BGR))
    return tensor_files, thumbnail_size


# ## The projector config: the piece to copy
#
# This is the crucial piece. A `ProjectorConfig` names each tensor for the Projector's menu (`tensor_name`) and
# ties it to its file, its metadata and its sprite; `projector.visualize_embeddings` writes it into the run
# directory as `projector_config.pbtxt`. The paths are relative to the run directory: TensorBoard refuses
# others. And TensorBoard lists a directory as a run only when it holds an event file, so the function
# ends by creating one with nothing in it: no tag then shows up in any other tab.


def write_projector_config(run_dir, tensor_files, thumbnail_size=None):
    """Writes `projector_config.pbtxt` for the files of `write_projector_files`, and an empty event file."""
    config = projector.ProjectorConfig()
    for name, tensor_file in tensor_files.items():
        embedding = config.embeddings.add()
        embedding.tensor_name = name
        embedding.tensor_path = tensor_file
        embedding.metadata_path = "metadata.tsv"
        if thumbnail_size is not None:
            embedding.sprite.image_path = "sprite.png"
            # The Projector wants each thumbnail's width first, then its height.
            embedding.sprite.single_image_dim.extend([thumbnail_size[1], thumbnail_size[0]])
    projector.visualize_embeddings(str(run_dir), config)
    # Opening a writer creates its event file; closing it at once leaves the file with no summary in it.
    tf.summary.create_file_writer(str(run_dir)).close()


# ## Run the lesson
#
# `--points` asks for a number of held-out images; a test split that holds fewer (360 on digits) gives all it
# has, and the script says so.


def make_parser():
    parser = plumbing.make_parser("Write learned embeddings for the Projector tab.", epochs=3)
    parser.add_argument(
        "--points",
        type=plumbing.positive_int,
        default=DEFAULT_POINTS,
        help=f"held-out images to embed (default: {DEFAULT_POINTS})",
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    if args.points > dataset.num_test:
        print(
            f"Note: {'the default ' if args.points == DEFAULT_POINTS else ''}--points {args.points} is more than the "
            f"{dataset.num_test:,} held-out images: embedding them all."
        )
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    model = train_cnn(dataset, args)
    images, labels = held_out_sample(dataset, args.points)
    embeddings = embed(model, images)
    tensor_files, thumbnail_size = write_projector_files(run_dir, embeddings, labels, dataset.class_names, images)
    write_projector_config(run_dir, tensor_files, thumbnail_size)

    print(f"Embedded {len(labels)} held-out images; the Projector's tensor menu names them:")
    for name, points in embeddings.items():
        print(f"  {name}: {points.shape[1]} dimensions, from {tensor_files[name]}")
    plumbing.print_view_command(run_dir, "Projector")
    print("If the Projector is not among the tabs, pick it from the menu at the top right of the page.")


if __name__ == "__main__":
    ctrl_c.run(main)
