"""
Title: Images: what the model really sees after augmentation
Description: Log the same images before and after augmentation, and labelled grids of augmented batches.

TensorBoard tab: Images. `before_augmentation` and `after_augmentation`: the first `--grid-size` training
images, written directly with `tf.summary.image(..., max_outputs=...)` at the same step, one picture per
image, so each image can be compared with its augmented self (the tag's description lists their classes);
`after_minus_before`: the change augmentation made to each of them, amplified so that it can be seen;
`augmented_grid`: a matplotlib grid of an augmented training batch titled with its class names, about
five times an epoch (slide the step to see new batches; `--grid-every N` for every N batches).
The augmentation is deliberately mild: brightness moves by at most 0.1 of the pixel range, and only colour
images are also made grayscale (10%) and flipped left-right (CIFAR-10, Fashion-MNIST). On the 8x8 grey
`digits` a brightness shift is all there is, a few grey levels that the eye hardly sees: `after_minus_before`
shows it (mid-grey: unchanged, lighter: brighter, darker: darker).
Run it:   python 03_images.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/03_images --samples_per_plugin images=1000
Time on a 2-core CPU: about 17 s with --quick (19 s by default on digits); under a minute for one epoch of CIFAR-10.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import argparse
import math

import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "03_images"  # its logs go to <logdir>/03_images/

# Without --grid-every, a grid every 1/GRIDS_PER_EPOCH of an epoch: a few steps to slide through, whatever the
# size of the data (digits has 23 batches an epoch, CIFAR-10 782).
GRIDS_PER_EPOCH = 5
# A grid of N images is one matplotlib figure of sqrt(N) x sqrt(N) pictures: 100 (10 x 10) draws in seconds, while
# 1,024 make a 5120 x 5440 picture that takes minutes to draw, and too small to read on a screen.
MAX_GRID_SIZE = 100


def grid_size(text):
    """argparse type for --grid-size: a whole number from 1 to MAX_GRID_SIZE."""
    value = plumbing.positive_int(text)
    if value > MAX_GRID_SIZE:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_GRID_SIZE} (a 10 x 10 grid), got {value}: a larger grid takes minutes to draw"
        )
    return value


def make_parser():
    parser = plumbing.make_parser("Log training images before and after augmentation to the Images tab.", epochs=1)
    parser.add_argument(
        "--grid-every",
        type=plumbing.positive_int,
        default=None,
        help=f"log a grid every N batches (default: about {GRIDS_PER_EPOCH} grids an epoch; each grid is a "
        "matplotlib figure, which is slow)",
    )
    parser.add_argument(
        "--grid-size",
        type=grid_size,
        default=25,
        help=f"images per grid, and images logged before and after augmentation (default: 25, a 5 x 5 grid; "
        f"at most {MAX_GRID_SIZE})",
    )
    return parser


def images_to_show(requested, num_train):
    """`requested` (the --grid-size), or all the training images when there are fewer, said in one line."""
    if requested <= num_train:
        return requested
    print(f"--grid-size {requested} is more than the {num_train:,} training images: showing all {num_train:,}.")
    return num_train


def log_before_and_after(dataset, count):
    """Logs the first `count` training images as they are stored, as augmentation changes them, and the change.

    All three tags are written at step 0 from the very same images, so the pictures pair up one to one.
    """
    images, labels = starter.normalize(*dataset.train.take(count).batch(count).get_single_element())
    augment = starter.make_augment(dataset.channels, dataset.flip)
    augmented, _ = augment(images, labels)
    classes = ", ".join(dataset.class_names[label] for label in labels.numpy())
    description = f"The first {len(labels)} training images, in order: {classes}"
    # The direct way: one picture per image, no labels, no matplotlib. The augmentation ends by clipping
    # pixels to [0, 1]: brightness changes can push them outside, and tf.summary.image expects [0, 1].
    tf.summary.image("before_augmentation", images, step=0, max_outputs=count, description=description)
    tf.summary.image("after_augmentation", augmented, step=0, max_outputs=count, description=description)

    # A small change is easy to miss side by side, so show it on its own: after minus before, scaled so that the
    # largest change in these images reaches white or black, around a mid-grey that means "unchanged".
    change = augmented - images
    largest = tf.maximum(tf.reduce_max(tf.abs(change)), 1e-6)
    tf.summary.image(
        "after_minus_before",
        0.5 + 0.5 * change / largest,
        step=0,
        max_outputs=count,
        description=(
            f"after_augmentation minus before_augmentation, amplified: mid-grey is unchanged, lighter is brighter, "
            f"darker is darker; white or black is a change of {float(largest):.3f} of the pixel range (the largest "
            "here). A brightness shift is one shade over the whole image (except where a pixel was already black "
            "or white); a flip shows the image and its mirror image. " + description
        ),
    )


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    count = images_to_show(args.grid_size, dataset.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_batches = starter.train_pipeline(dataset, max(args.batch_size, count))
    # len(): the pipeline's number of batches an epoch, known because the data's size is known.
    grid_every = args.grid_every or max(1, math.ceil(len(train_batches) / GRIDS_PER_EPOCH))

    writer = tf.summary.create_file_writer(str(run_dir))
    grids = 0
    try:
        with writer.as_default():
            log_before_and_after(dataset, count)
            for step, (images, labels) in enumerate(train_batches.repeat(args.epochs)):
                # Rendering a figure takes far longer than a training step: log one every few batches,
                # not one per batch (the video rendered ~1,500 per epoch, and TensorBoard showed 10).
                if step % grid_every == 0:
                    figure = utils.image_grid(images[:count].numpy(), labels[:count].numpy(), dataset.class_names)
                    tf.summary.image("augmented_grid", utils.plot_to_image(figure), step=step)
                    grids += 1
    finally:
        writer.close()
    print(
        f"Logged {count} training images before and after augmentation (and the change, in after_minus_before), "
        f"and {grids} grid(s) of {count} augmented images, one every {grid_every} of {len(train_batches)} batches "
        "an epoch."
    )
    # TensorBoard keeps only 10 images per tag unless told otherwise. Give a number: in TensorBoard 2.21
    # "images=0" shows no images at all rather than all of them.
    plumbing.print_view_command(run_dir, "Images", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
