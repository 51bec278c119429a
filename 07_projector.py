"""
Title: The embedding projector: what the model has learned, in 3D
Description: Embed held-out images with the CNN's penultimate layer and explore them in the Projector.

TensorBoard tab: Projector (choose it from the menu at the top right if it is not shown). Two tensors
to pick from in its menu, named `features` (the learned 64-dimensional embedding: images of a class form
clusters) and `pixels` (the raw pixels, for comparison: far less separated); they are saved as features.tsv
and pixels.tsv, which is why the menu shows these names (from a tf.train.Checkpoint it would show
`features/.ATTRIBUTES/VARIABLE_VALUE`). "Color by" colours the points by their class names, from metadata.tsv,
and the sprite thumbnails show the images themselves. Try PCA, then T-SNE.
Run it:   python 07_projector.py             (or --quick; --points 1000 to embed more images)
View it:  tensorboard --logdir logs/07_projector
Time on a 2-core CPU: about 14 s with --quick (the same by default on digits); about 6 minutes with CIFAR-10
(3 epochs; estimated at 117 s an epoch, see the README).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import keras
import numpy as np

import plumbing
import starter
import utils

LESSON = "07_projector"  # its logs go to <logdir>/07_projector/


def held_out_sample(dataset, count):
    """The first `count` test images, as uint8 (for the sprite) and with their labels."""
    images, labels = [], []
    for image, label in dataset.test.take(count):
        images.append(image.numpy())
        labels.append(int(label))
    return np.stack(images), np.array(labels)


def make_parser():
    parser = plumbing.make_parser("Write learned embeddings for the Projector tab.", epochs=3)
    parser.add_argument(
        "--points", type=plumbing.positive_int, default=500, help="held-out images to embed (default: 500)"
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=starter.make_loss(), metrics=["accuracy"])
    # shuffle=False: the training pipeline shuffles itself (Keras ignores the flag for a tf.data.Dataset).
    model.fit(starter.train_pipeline(dataset, args.batch_size), epochs=args.epochs, verbose=2, shuffle=False)

    # The embedding is the output of the penultimate layer ("features"), not the raw pixels the video used.
    feature_extractor = keras.Model(model.inputs, model.get_layer("features").output)
    images, labels = held_out_sample(dataset, args.points)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
    features = feature_extractor.predict(pixels.reshape(images.shape), verbose=0)

    # Keras 3's embeddings_freq writes an .h5 file the Projector can't read: write_projector writes TSV files.
    embeddings = {"features": features, "pixels": pixels}
    tensor_files = utils.write_projector(run_dir, embeddings, labels, dataset.class_names, images)
    print(f"Embedded {len(labels)} held-out images; the Projector's tensor menu names them:")
    for name, points in embeddings.items():
        print(f"  {name}: {points.shape[1]} dimensions, from {tensor_files[name]}")
    plumbing.print_view_command(run_dir, "Projector")


if __name__ == "__main__":
    ctrl_c.run(main)
