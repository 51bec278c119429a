"""
Title: TensorBoard from `model.fit` with one callback
Description: `keras.callbacks.TensorBoard` logs loss and accuracy curves, weight histograms and the model graph.

TensorBoard tabs: Scalars, Distributions, Histograms, Graphs (choose "Conceptual graph").
Run it:   python 01_callbacks.py          (or --quick for a smoke test)
View it:  tensorboard --logdir logs/01_callbacks/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import keras

import plumbing
import starter

LESSON = "01_callbacks"  # its logs go to <logdir>/01_callbacks/

# ## The data
#
# `model.fit` reports its validation metrics on a slice held out of the *training* data, not on the test split.
# Anything you later add that chooses by `val_loss` (EarlyStopping, ModelCheckpoint) then never sees the test
# split, which stays an honest measure of the final model.


def load_data(args):
    """The dataset, and its training data split into the part to train on and a validation slice."""
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    training_part, validation_part = starter.hold_out_validation(dataset)
    print(
        f"Training on {training_part.num_train} images; {validation_part.num_test} held out of the training data "
        "are the validation data."
    )
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    return dataset, training_part, validation_part


# ## The model
#
# The video's small CNN, compiled with Adam and cross-entropy. Every metric named in `compile` becomes a curve
# in TensorBoard next to the loss.


def build_model(dataset):
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=starter.make_loss(),
        metrics=["accuracy"],
    )
    return model


# ## The callback
#
# This is the whole TensorBoard part of the lesson: one `keras.callbacks.TensorBoard`, passed to `model.fit`.
# It writes two runs, `<run>/train` and `<run>/validation`, with the same tags (`epoch_loss`, `epoch_accuracy`),
# so the Scalars tab draws both curves in one chart. `histogram_freq=1` adds a histogram of every weight after
# each epoch, for the Distributions and Histograms tabs. Keras 3 also writes the model's conceptual graph, but
# no op graph: `05_graph.py` shows how to log one.


def train(model, training_part, validation_part, args, run_dir):
    tensorboard_callback = keras.callbacks.TensorBoard(log_dir=str(run_dir), histogram_freq=1)
    # shuffle=False: the training pipeline shuffles itself, and Keras warns about this flag for a tf.data.Dataset.
    history = model.fit(
        starter.train_pipeline(training_part, args.batch_size),
        # validation_part.test is the validation slice, so test_pipeline batches it.
        validation_data=starter.test_pipeline(validation_part, args.batch_size),
        epochs=args.epochs,
        callbacks=[tensorboard_callback],
        shuffle=False,
    )
    print(f"Validation accuracy after the last epoch: {history.history['val_accuracy'][-1]:.4f}")


# ## The test split, once
#
# After training, the final model is measured once on the test split. Nothing was chosen by it, so this is the
# number to report.


def evaluate_on_test_split(model, dataset, args):
    test_loss, test_accuracy = model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    print(f"Test accuracy of the final model: {test_accuracy:.4f} (test loss {test_loss:.4f})")


# ## Run the lesson
#
# `main` runs the steps in order and ends with the command that shows the logs. The Graphs tab first asks for
# an op graph, which Keras 3 does not write, and shows "Malformed GraphDef": choose "Conceptual graph" there,
# then double-click the model's node to open it.


def make_parser():
    return plumbing.make_parser("Train with model.fit and the keras.callbacks.TensorBoard callback.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset, training_part, validation_part = load_data(args)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    model = build_model(dataset)
    train(model, training_part, validation_part, args, run_dir)
    evaluate_on_test_split(model, dataset, args)
    plumbing.print_view_command(run_dir, "Scalars", whole_curve_note=True)
    print("The Distributions and Histograms tabs show the weights, epoch by epoch.")
    print(
        'In the Graphs tab, choose "Conceptual graph" (Keras writes no op graph, hence "Malformed GraphDef"), '
        f'then double-click the "{model.name}" node.'
    )


if __name__ == "__main__":
    ctrl_c.run(main)
