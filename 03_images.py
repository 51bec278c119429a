"""
Title: Images: what the model really sees after augmentation
Description: Log the same images before and after augmentation, and labelled grids of augmented batches.

TensorBoard tab: Images. `before_augmentation` and `after_augmentation`: the first `--grid-size` training
images, written directly with `tf.summary.image(..., max_outputs=...)` at the same step, one picture per
image, so each image can be compared with its augmented self (the tag's description lists their classes);
`augmented_grid`: a matplotlib grid of augmented training batches titled with their class names, every
`--grid-every` batches (slide the step to see new batches).
Run it:   python 03_images.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/03_images --samples_per_plugin images=1000
Time on a 2-core CPU: about 12 s with --quick; under a minute for one epoch of CIFAR-10.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too.
import ctrl_c

import tensorflow as tf

import plumbing
import starter
import utils

LESSON = "03_images"  # its logs go to <logdir>/03_images/


def make_parser():
    parser = plumbing.make_parser("Log training images before and after augmentation to the Images tab.", epochs=1)
    parser.add_argument(
        "--grid-every",
        type=plumbing.positive_int,
        default=100,
        help="log a grid every N batches (default: 100; each grid is a matplotlib figure, which is slow)",
    )
    parser.add_argument(
        "--grid-size", type=plumbing.positive_int, default=25, help="images per grid (default: 25, a 5 x 5 grid)"
    )
    return parser


def log_before_and_after(dataset, count):
    """Logs the first `count` training images as they are stored and as augmentation changes them.

    Both tags are written at step 0 from the very same images, so the pictures pair up one to one.
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


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    train_batches = starter.train_pipeline(dataset, max(args.batch_size, args.grid_size))

    writer = tf.summary.create_file_writer(str(run_dir))
    grids = 0
    try:
        with writer.as_default():
            log_before_and_after(dataset, args.grid_size)
            for step, (images, labels) in enumerate(train_batches.repeat(args.epochs)):
                # Rendering a figure takes far longer than a training step: log one every few batches,
                # not one per batch (the video rendered ~1,500 per epoch, and TensorBoard showed 10).
                if step % args.grid_every == 0:
                    figure = utils.image_grid(images[: args.grid_size].numpy(), labels.numpy(), dataset.class_names)
                    tf.summary.image("augmented_grid", utils.plot_to_image(figure), step=step)
                    grids += 1
    finally:
        writer.close()
    print(
        f"Logged {args.grid_size} training images before and after augmentation, "
        f"and {grids} grid(s) of {args.grid_size} augmented images."
    )
    # TensorBoard keeps only 10 images per tag unless told otherwise. Give a number: in TensorBoard 2.21
    # "images=0" shows no images at all rather than all of them.
    plumbing.print_view_command(run_dir, "Images", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    ctrl_c.run(main)
