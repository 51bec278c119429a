"""
Title: TensorBoard from `model.fit` with one callback
Description: `keras.callbacks.TensorBoard` logs loss and accuracy curves, weight histograms and the model graph.

TensorBoard tabs: Scalars (epoch_loss, epoch_accuracy for train and validation, where validation is a slice
held out of the TRAINING data; the test split is measured once, after training, and printed), Distributions and
Histograms (every weight, each epoch), Graphs (the conceptual "keras" graph of the model).
Run it:   python 01_callbacks.py          (or --quick for a smoke test)
View it:  tensorboard --logdir logs/01_callbacks
Time on a 2-core CPU: about 15 s with --quick (18 s for the default 5 epochs of digits);
about 8 minutes for 5 epochs of CIFAR-10 (40,000 training images, estimated at 117 s an epoch, see the README).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import keras

import plumbing
import starter

LESSON = "01_callbacks"  # its logs go to <logdir>/01_callbacks/


def make_parser():
    return plumbing.make_parser("Train with model.fit and the keras.callbacks.TensorBoard callback.")


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)

    # model.fit watches a validation slice held out of the TRAINING data, not the test split: whatever a learner
    # adds that selects on val_loss (EarlyStopping, ModelCheckpoint) then never sees the test split, which stays
    # an unbiased measure of the final model. validation_part.test IS that slice, so test_pipeline batches it.
    training_part, validation_part = starter.hold_out_validation(dataset)
    print(
        f"Training on {training_part.num_train} images; {validation_part.num_test} held out of the training data "
        "are the validation data."
    )
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=starter.make_loss(),
        metrics=["accuracy"],
    )

    # The callback writes run_dir/train and run_dir/validation (the validation slice), so both curves share one
    # chart. histogram_freq=1 adds a histogram of every weight after each epoch (Distributions, Histograms).
    # Keras 3 writes the conceptual "keras" graph of the model, but no op graph: its write_graph op graph
    # is unsupported. 05_graph.py shows how to log the op graph with tf.summary.graph.
    tensorboard_callback = keras.callbacks.TensorBoard(log_dir=str(run_dir), histogram_freq=1)

    # shuffle=False: the training pipeline shuffles itself, and Keras ignores (and warns about) this flag for a
    # tf.data.Dataset.
    history = model.fit(
        starter.train_pipeline(training_part, args.batch_size),
        validation_data=starter.test_pipeline(validation_part, args.batch_size),
        epochs=args.epochs,
        callbacks=[tensorboard_callback],
        shuffle=False,
    )
    print(f"Validation accuracy after the last epoch: {history.history['val_accuracy'][-1]:.4f}")

    # The test split is measured once, after training, on the final model; nothing was chosen by it.
    test_loss, test_accuracy = model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    print(f"Test accuracy of the final model: {test_accuracy:.4f} (test loss {test_loss:.4f})")
    plumbing.print_view_command(run_dir, "Scalars (then Distributions, Histograms and Graphs)")


if __name__ == "__main__":
    ctrl_c.run(main)
