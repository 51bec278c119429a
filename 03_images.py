"""
Title: Images: what the model really sees after augmentation
Description: Log the same images before and after augmentation, and labelled grids of augmented batches.

TensorBoard tab: Images (tick "Show actual image size" to read the grids' titles).
Run it:   python 03_images.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/03_images/<run> --samples_per_plugin images=1000  (<run> is printed)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import argparse
import math

import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "03_images"  # its logs go to <logdir>/03_images/

# Without --grid-every, a grid every 1/GRIDS_PER_EPOCH of an epoch: a few steps to slide through, whatever the
# size of the data.
GRIDS_PER_EPOCH = 5
# A grid of N images is one matplotlib figure of sqrt(N) x sqrt(N) pictures: 100 (10 x 10) draws in seconds,
# while a much larger one takes minutes to draw and is too small to read on a screen.
MAX_GRID_SIZE = 100

# ## Before and after augmentation
#
# The training pipeline augments every batch: brightness moves by at most 0.1 of the pixel range, colour images
# are sometimes made grayscale, and CIFAR-10 and Fashion-MNIST are flipped left-right. To see what the model
# gets, log the same images twice at the same step, as they are stored and as augmentation changes them.
#
# `tf.summary.image` takes a batch of images with pixels in [0, 1] and writes up to `max_outputs` of them, one
# picture each, under one tag. The tag's `description` (shown under its card) lists the images' classes.
#
# The Images tab groups tags by what comes before their first `/` and sorts the groups by name. So these tags
# start with `first_images/`, and the labelled grids below (`augmented_grid`) come first on the page.


def first_images(dataset, count):
    """The first `count` training images, normalized to [0, 1], their augmented copies, and their class names."""
    images, labels = starter.normalize(*dataset.train.take(count).batch(count).get_single_element())
    augment = starter.make_augment(dataset.image_shape[-1], dataset.flip)
    augmented, _ = augment(images, labels)
    return images, augmented, [dataset.class_names[label] for label in labels.numpy()]


def log_before_and_after(images, augmented, classes):
    description = f"The first {len(classes)} training images, in order: {', '.join(classes)}"
    # The augmentation ends by clipping pixels to [0, 1], the range tf.summary.image expects.
    tf.summary.image(
        "first_images/before_augmentation", images, step=0, max_outputs=len(images), description=description
    )
    tf.summary.image(
        "first_images/after_augmentation", augmented, step=0, max_outputs=len(images), description=description
    )
    return description


# ## The change, made visible
#
# A small change is easy to miss side by side: on the grey 8x8 `digits`, a brightness shift is a few grey levels
# that the eye hardly sees. So log the change on its own, after minus before, scaled so that the largest change
# in these images reaches white or black around a mid-grey that means "unchanged".


def log_the_change(images, augmented, description):
    change = augmented - images
    largest = tf.maximum(tf.reduce_max(tf.abs(change)), 1e-6)
    tf.summary.image(
        "first_images/after_minus_before",
        0.5 + 0.5 * change / largest,
        step=0,
        max_outputs=len(images),
        description=(
            f"after_augmentation minus before_augmentation, amplified: mid-grey is unchanged, lighter is brighter, "
            f"darker is darker; white or black is a change of {float(largest):.3f} of the pixel range (the largest "
            "here). A brightness shift is one shade over the whole image (except where a pixel was already black "
            "or white); a flip shows the image and its mirror image. " + description
        ),
    )


# ## Labelled grids of augmented batches
#
# `tf.summary.image` draws no labels. For a picture with class names, draw a matplotlib grid and log the figure
# as a PNG image (`utils.image_grid`, `utils.plot_to_image`). Drawing a figure takes far longer than a training
# step, so log one every few batches, not every batch: each grid is a step of the `augmented_grid` card's slider.


def log_grids(train_batches, epochs, count, grid_every, class_names):
    """Logs a grid of the first `count` images of every `grid_every`-th batch; returns how many it logged."""
    grids = 0
    for step, (images, labels) in enumerate(train_batches.repeat(epochs)):
        if step % grid_every == 0:
            figure = utils.image_grid(images[:count].numpy(), labels[:count].numpy(), class_names)
            tf.summary.image("augmented_grid", utils.plot_to_image(figure), step=step)
            grids += 1
    return grids


# ## One run, one writer
#
# All four tags go to one run: one `tf.summary.create_file_writer`, and every `tf.summary.image` call inside
# `with writer.as_default():` writes to it. Closing the writer flushes it, so a Ctrl-C keeps what was logged.


def log_images(run_dir, dataset, count, train_batches, epochs, grid_every):
    """Logs the first `count` images before and after augmentation, their change, and the grids; returns how many
    grids it logged."""
    writer = tf.summary.create_file_writer(str(run_dir))
    try:
        with writer.as_default():
            images, augmented, classes = first_images(dataset, count)
            description = log_before_and_after(images, augmented, classes)
            log_the_change(images, augmented, description)
            return log_grids(train_batches, epochs, count, grid_every, dataset.class_names)
    finally:
        writer.close()


# ## Run the lesson
#
# `main` runs the steps and ends with the command that shows the logs. TensorBoard keeps only 10 images per tag
# unless told otherwise, so the command it prints passes `--samples_per_plugin images=1000` (a number: in TensorBoard
# 2.21, `images=0` shows no images at all). A grid's images come from one batch, so a `--batch-size` smaller than
# `--grid-size` is raised to it, and said in one line.


def images_to_show(requested, num_train):
    """`requested` (the --grid-size), or all the training images when there are fewer, said in one line."""
    if requested <= num_train:
        return requested
    print(f"Note: --grid-size {requested} is more than the {num_train:,} training images: showing all {num_train:,}.")
    return num_train


def grid_batch_size(batch_size, count):
    """`batch_size` (the --batch-size), or `count` when that is larger, said in one line: a grid is one batch."""
    if batch_size >= count:
        return batch_size
    print(
        f"Note: --batch-size {batch_size} is smaller than a grid of {count} images: the grids come from batches "
        f"of {count}."
    )
    return count


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


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    count = images_to_show(args.grid_size, dataset.num_train)
    batch_size = grid_batch_size(args.batch_size, count)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_batches = starter.train_pipeline(dataset, batch_size)
    # len(): the pipeline's number of batches an epoch, known because the data's size is known.
    grid_every = args.grid_every or max(1, math.ceil(len(train_batches) / GRIDS_PER_EPOCH))
    grids = log_images(run_dir, dataset, count, train_batches, args.epochs, grid_every)
    print(
        f"Logged {count} training images before and after augmentation (and the change, in after_minus_before), "
        f"and {grids} grid(s) of {count} augmented images, one every {grid_every} of {len(train_batches)} batches "
        "an epoch."
    )
    plumbing.print_view_command(run_dir, "Images", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
