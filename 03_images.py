"""
Title: Images: what the model really sees after augmentation
Description: Log labelled grids of augmented training images, and a raw batch, to the Images tab.

TensorBoard tab: Images. `augmented_grid`: a matplotlib grid of augmented training images titled with
their class names, every `--grid-every` batches (slide the step to see new batches); `raw_batch`: the
first batch written directly with `tf.summary.image(..., max_outputs=...)`, one picture per image.
Run it:   python 03_images.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/03_images --samples_per_plugin images=1000
Time on a 2-core CPU: about 10 s with --quick; under a minute for one epoch of CIFAR-10.
"""

import tensorflow as tf

import plumbing
import starter
import utils


def main():
    parser = plumbing.make_parser("Log augmented training images to the Images tab.", epochs=1)
    parser.add_argument(
        "--grid-every",
        type=plumbing.positive_int,
        default=100,
        help="log a grid every N batches (default: 100; each grid is a matplotlib figure, which is slow)",
    )
    parser.add_argument(
        "--grid-size", type=plumbing.positive_int, default=25, help="images per grid (default: 25, a 5 x 5 grid)"
    )
    args = plumbing.parse_args(parser)
    dataset = plumbing.load_from_args(args)
    run_dir = plumbing.new_run_dir(args.logdir, __file__)
    # The augmentation ends by clipping pixels to [0, 1]: brightness changes can push them outside, and
    # tf.summary.image expects floats in [0, 1].
    train_batches = starter.train_pipeline(dataset, max(args.batch_size, args.grid_size))

    writer = tf.summary.create_file_writer(str(run_dir))
    grids = 0
    try:
        with writer.as_default():
            for step, (images, labels) in enumerate(train_batches.repeat(args.epochs)):
                if step == 0:
                    # The direct way: one picture per image, no labels, no matplotlib.
                    tf.summary.image("raw_batch", images, step=0, max_outputs=args.grid_size)
                # Rendering a figure takes far longer than a training step: log one every few batches,
                # not one per batch (the video rendered ~1,500 per epoch, and TensorBoard showed 10).
                if step % args.grid_every == 0:
                    figure = utils.image_grid(images[: args.grid_size].numpy(), labels.numpy(), dataset.class_names)
                    tf.summary.image("augmented_grid", utils.plot_to_image(figure), step=step)
                    grids += 1
    finally:
        writer.close()
    print(f"Logged {grids} grid(s) of {args.grid_size} augmented images and one raw batch.")
    # TensorBoard keeps only 10 images per tag unless told otherwise. Give a number: in TensorBoard 2.21
    # "images=0" shows no images at all rather than all of them.
    plumbing.print_view_command(run_dir, "Images", extra_flags="--samples_per_plugin images=1000")


if __name__ == "__main__":
    plumbing.run(main)
