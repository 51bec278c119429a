"""
Title: TensorBoard from `model.fit` with one callback
Description: `keras.callbacks.TensorBoard` logs loss and accuracy curves, weight histograms and the model graph.

TensorBoard tabs: Scalars (epoch_loss, epoch_accuracy for train and validation), Distributions and
Histograms (every weight, each epoch), Graphs (the conceptual "keras" graph of the model).
Run it:   python 01_callbacks.py          (or --quick for a smoke test)
View it:  tensorboard --logdir logs/01_callbacks
Time on a 2-core CPU: about 12 s with --quick (16 s for the default 5 epochs of digits);
about 18 minutes for 5 epochs of CIFAR-10 (estimated at bench/RESULTS.md's rate).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too.
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
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)

    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=starter.make_loss(),
        metrics=["accuracy"],
    )

    # The callback writes run_dir/train and run_dir/validation, so both curves share one chart.
    # histogram_freq=1 adds a histogram of every weight after each epoch (Distributions, Histograms).
    # Keras 3 writes the conceptual "keras" graph of the model, but no op graph: its write_graph op graph
    # is unsupported. 05_graph.py shows how to log the op graph with tf.summary.graph.
    tensorboard_callback = keras.callbacks.TensorBoard(log_dir=str(run_dir), histogram_freq=1)

    # The validation data is the held-out test split, never a slice of the training data. shuffle=False:
    # the training pipeline shuffles itself, and Keras ignores (and warns about) this flag for a tf.data.Dataset.
    history = model.fit(
        starter.train_pipeline(dataset, args.batch_size),
        validation_data=starter.test_pipeline(dataset, args.batch_size),
        epochs=args.epochs,
        callbacks=[tensorboard_callback],
        shuffle=False,
    )
    print(f"Final held-out accuracy: {history.history['val_accuracy'][-1]:.4f}")
    plumbing.print_view_command(run_dir, "Scalars (then Distributions, Histograms and Graphs)")


if __name__ == "__main__":
    ctrl_c.run(main)
