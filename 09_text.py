"""
Title: Text: the model's most confident mistakes as a Markdown table, every epoch
Description: `tf.summary.text` renders Markdown: a table for data, a fenced code block for preformatted text.

TensorBoard tab: Text. `mistakes` holds one table per epoch (slide the step to watch it change); `settings` and
`model_summary` are written once, at step 0.
Run it:   python 09_text.py     (or --quick for a smoke test; --mistakes N for the rows of each table)
View it:  tensorboard --logdir logs/09_text/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras
import numpy as np
import tensorflow as tf

import plumbing
import starter

LESSON = "09_text"  # its logs go to <logdir>/09_text/

LEARNING_RATE = 1e-3
DEFAULT_MISTAKES = 20

# ## Markdown in the Text tab
#
# `tf.summary.text(tag, text, step)` logs a string, and the Text tab renders it as Markdown. A Markdown table
# suits data, such as this run's settings. Markdown joins consecutive lines into one paragraph, so text whose
# lines and spaces matter, such as Keras's model summary, goes into a fenced code block, which keeps every line
# and space, in a fixed-width font.


def settings_markdown(args, dataset):
    """The run's settings as a two-column Markdown table."""
    settings = {
        "dataset": f"{dataset.name} ({dataset.num_train} train, {dataset.num_test} held-out test images)",
        "epochs": args.epochs,
        "batch size": args.batch_size,
        "learning rate": LEARNING_RATE,
        "quick": args.quick,
        "mistakes shown per epoch": args.mistakes,
    }
    rows = [f"| {name} | {value} |" for name, value in settings.items()]
    return "\n".join(["| setting | value |", "|---|---|", *rows])


def model_summary_markdown(model):
    """Keras's model summary as a Markdown code block (without the fence, its table would be one long line)."""
    captured = []
    model.summary(print_fn=lambda text, **_: captured.append(text))
    return "```\n" + "\n".join(captured).rstrip() + "\n```"


# ## The model's most confident mistakes
#
# After each epoch the model predicts every held-out test image. The images it gets wrong, the most confident
# mistakes first, make a table with each image's index in the test split (so you can look it up), its true
# class, the predicted class and the model's confidence. The test pipeline is never shuffled, so position i of
# its output is test image i.


def mistakes_markdown(true_labels, probabilities, class_names, limit, epoch):
    """A Markdown table of the misclassified test images, the most confident first, at most `limit` rows.

    `true_labels` and `probabilities` ((N, num_classes)) are in test-split order; `epoch` counts from 1.
    """
    predicted_labels = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted_labels != true_labels)
    accuracy = 1.0 - len(wrong) / len(true_labels)
    heading = (
        f"Epoch {epoch}: **{len(wrong)} of {len(true_labels)}** held-out test images misclassified "
        f"(test accuracy {accuracy:.4f})."
    )
    if len(wrong) == 0:
        return heading
    # A stable sort keeps test-split order among equal confidences, so the table is reproducible.
    most_confident_first = wrong[np.argsort(-confidence[wrong], kind="stable")][:limit]
    rows = [
        f"| {index} | {class_names[true_labels[index]]} | {class_names[predicted_labels[index]]} "
        f"| {confidence[index]:.4f} |"
        for index in most_confident_first
    ]
    # The blank line ends the paragraph: a Markdown table must start on a line of its own.
    return "\n".join(
        [
            f"{heading} The {len(rows)} most confident mistakes:",
            "",
            "| test index | true class | predicted class | confidence |",
            "|---:|---|---|---:|",
            *rows,
        ]
    )


# ## Writing the text, once and every epoch
#
# The settings and the model summary describe the whole run: they are written once, at step 0. The table of
# mistakes is written after each epoch, at that epoch's step, so the Text tab's step slider moves through them.
# A writer writes to disk when its `with writer.as_default():` block ends; closing it in `finally` keeps every
# epoch logged so far when Ctrl-C stops the run.


def train_and_log_mistakes(model, dataset, args, writer):
    """Trains `model` for `args.epochs` epochs, logging the table of mistakes after each one."""
    steps = starter.make_steps(model, keras.optimizers.Adam(learning_rate=LEARNING_RATE))
    train_batches = starter.train_pipeline(dataset, args.batch_size)
    test_batches = starter.test_pipeline(dataset, args.batch_size)
    for epoch in range(args.epochs):
        starter.train_epoch(steps, train_batches, epoch, args.epochs)
        true_labels, probabilities = starter.evaluate(steps.test_step, test_batches)
        table = mistakes_markdown(true_labels, probabilities, dataset.class_names, args.mistakes, epoch + 1)
        with writer.as_default():
            tf.summary.text("mistakes", table, step=epoch)
        wrong = int((probabilities.argmax(axis=1) != true_labels).sum())
        accuracy = steps.test_accuracy.result()
        print(f"  test accuracy {accuracy:.4f}; the table lists {min(wrong, args.mistakes)} of the {wrong} mistakes")


# ## Run the lesson
#
# `main` reads the flags (`--mistakes` caps the rows of each table), loads the data, makes a new run directory
# and its writer, logs the settings and the model summary, then trains while logging the mistakes, and prints
# the command that shows them.


def make_parser():
    parser = plumbing.make_parser("Log the model's most confident mistakes as a Markdown table in the Text tab.")
    parser.add_argument(
        "--mistakes",
        type=plumbing.positive_int,
        default=DEFAULT_MISTAKES,
        help=f"rows of each epoch's table of mistakes (default: {DEFAULT_MISTAKES})",
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    if args.mistakes > dataset.num_test:
        print(
            f"Note: --mistakes {args.mistakes} is more than the {dataset.num_test:,} held-out test images: "
            "each table lists every mistake."
        )
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))

    writer = tf.summary.create_file_writer(str(run_dir))
    try:
        with writer.as_default():
            tf.summary.text("settings", settings_markdown(args, dataset), step=0)
            tf.summary.text("model_summary", model_summary_markdown(model), step=0)
        train_and_log_mistakes(model, dataset, args, writer)
    finally:
        writer.close()
    plumbing.print_view_command(run_dir, "Text")


if __name__ == "__main__":
    ctrl_c.run(main)
