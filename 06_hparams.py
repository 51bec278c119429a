"""
Title: Hyperparameter search in the HParams dashboard
Description: Declare the hyperparameters and metrics once, log one run per trial, compare the trials side by side.

TensorBoard tabs: HParams (Table View, Parallel Coordinates View, Scatter Plot Matrix View), and Scalars.
One process runs the video's grid; for a search over several processes or machines, see 14_keras_tuner.py.
Run it:   python 06_hparams.py          (36 trials; --trials N samples N of them, --fit logs with callbacks, --quick)
View it:  tensorboard --logdir logs/06_hparams/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import itertools
import random

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

import plumbing
import starter

LESSON = "06_hparams"  # its logs go to <logdir>/06_hparams/<run>/

# ## The search space
#
# The video searches three hyperparameters of the starter's CNN: the units of its dense layer, its dropout rate
# and Adam's learning rate. `hp.HParam` names each one and lists the values it may take; the dashboard uses the
# names as column titles and the values as the axes of its Parallel Coordinates and Scatter Plot Matrix views.
# The names have no spaces, so they are easy to type in the dashboard's filters.

HP_UNITS = hp.HParam("units", hp.Discrete([32, 64, 128]))
HP_DROPOUT = hp.HParam("dropout", hp.Discrete([0.1, 0.2, 0.3, 0.5]))
HP_LEARNING_RATE = hp.HParam("learning_rate", hp.Discrete([1e-3, 1e-4, 1e-5]))
HPARAMS = [HP_UNITS, HP_DROPOUT, HP_LEARNING_RATE]

# ## The metrics: one column for each value that every trial logs
#
# The dashboard shows a metric only when it is declared: `hp.Metric` names the scalar tag to read from each
# trial's run. The trials are compared on a validation slice held out of the training data, never on the test
# split, which would then no longer measure the selected model without bias.
#
# Declare only what every trial of the run fills in. The Parallel Coordinates and Scatter Plot Matrix views leave
# out every row that lacks a value for any declared metric, so one column that most rows leave empty (a
# test accuracy that only the selected trial has, say) empties both views. With `--fit`, Keras' TensorBoard
# callback writes the validation curves as `epoch_accuracy` and `epoch_loss` into each trial's `validation`
# subdirectory: `group=` names that run, or the dashboard would look for the tags in the trial's own run.

METRIC_ACCURACY = "validation_accuracy"
METRIC_LOSS = "validation_loss"
METRICS = [
    hp.Metric(METRIC_ACCURACY, display_name="Validation accuracy"),
    hp.Metric(METRIC_LOSS, display_name="Validation loss"),
]
FIT_METRICS = [
    hp.Metric("epoch_accuracy", group="validation", display_name="Validation accuracy"),
    hp.Metric("epoch_loss", group="validation", display_name="Validation loss"),
]
# Not declared, so not columns: the training curves and the selected trial's test accuracy, in the Scalars tab.
TRAINING_ACCURACY = "training_accuracy"
TRAINING_LOSS = "training_loss"
TEST_ACCURACY = "test_accuracy"

# ## Which trials to run
#
# By default the script runs the whole grid, every combination of the values above, as the video does. With
# `--trials N` it runs a random sample of N of them, drawn with `--seed`: a random search. Each trial keeps its
# number in the grid, so it has the same name in every sample.


def make_parser():
    """The shared flags and this script's own: --trials and --fit."""
    parser = plumbing.make_parser("Hyperparameter search logged to the HParams dashboard.", epochs=1)
    parser.add_argument(
        "--trials",
        type=plumbing.positive_int,
        help="run a random sample of N grid trials, drawn with --seed (with --quick, instead of its two corners)",
    )
    parser.add_argument(
        "--fit",
        action="store_true",
        help="log each trial from inside model.fit with callbacks, hp.KerasCallback (the row) and "
        "keras.callbacks.TensorBoard (the curves), as TensorBoard's HParams tutorial does; by default the "
        "script writes each row itself after model.fit (hp.hparams and tf.summary.scalar, as the video does)",
    )
    return parser


def all_trials():
    """Every combination of the search space, in a fixed order: the grid."""
    return [
        {HP_UNITS: units, HP_DROPOUT: dropout, HP_LEARNING_RATE: learning_rate}
        for units, dropout, learning_rate in itertools.product(
            HP_UNITS.domain.values, HP_DROPOUT.domain.values, HP_LEARNING_RATE.domain.values
        )
    ]


def choose_trials(args):
    """The (grid number, trial) pairs to run: the grid, a sample of it, or with --quick its two corners."""
    trials = list(enumerate(all_trials()))
    if args.trials is not None:
        if args.trials > len(trials):
            print(f"Note: --trials {args.trials} is more than the grid's {len(trials)} trials: running all of them.")
        return random.Random(args.seed).sample(trials, min(args.trials, len(trials)))
    if args.quick:
        # The smallest, slowest-learning model and the largest, fastest one.
        return [trials[0], trials[-1]]
    return trials


def trial_name(number, trial):
    return f"trial-{number:02d}-units_{trial[HP_UNITS]}-dropout_{trial[HP_DROPOUT]}-lr_{trial[HP_LEARNING_RATE]:g}"


def trial_id(number, run_name):
    """The trial's row name in the dashboard: its number, then its run, e.g. "07 000512 20261202".

    The dashboard makes one row per trial id and averages the runs that share one, so the id holds the run
    directory's name: a rerun into the same logdir adds rows instead of merging into an earlier run's. The Trial
    ID column is cut after about 14 characters, so what tells rows apart comes first: the trial's number, then
    (for a run directory named <date>-<time>) the time, which is what differs between two runs of one day.
    """
    date, dash, time = run_name.partition("-")
    if dash and len(date) == 8 and date.isdigit():
        run_name = f"{time} {date}"
    return f"{number:02d} {run_name}"


# ## Declaring the experiment
#
# `hp.hparams_config` declares the hyperparameters and the metric columns once, at the root of the run directory;
# each trial then writes into a subdirectory of its own. The dashboard takes its columns from the first
# declaration it finds in the directory it serves. So view one run's directory at a time (the script prints it).
# A directory that holds both a default run and a `--fit` run shows one kind's columns. The other kind's rows are
# empty in those columns, and drop out of the Parallel Coordinates and Scatter Plot Matrix views.


def write_experiment_config(experiment_dir, fit):
    config_writer = tf.summary.create_file_writer(str(experiment_dir))
    with config_writer.as_default():
        hp.hparams_config(hparams=HPARAMS, metrics=FIT_METRICS if fit else METRICS)
    config_writer.close()


# ## Training one trial
#
# A trial builds the starter's CNN with its units and dropout, compiles it with Adam at its learning rate, and
# trains it with `model.fit`, which scores it on the validation slice after every epoch.


def build_model(dataset, trial):
    num_classes = len(dataset.class_names)
    model = starter.build_cnn(dataset.image_shape, num_classes, units=trial[HP_UNITS], dropout=trial[HP_DROPOUT])
    optimizer = keras.optimizers.Adam(learning_rate=trial[HP_LEARNING_RATE])
    model.compile(optimizer=optimizer, loss=starter.make_loss(), metrics=["accuracy"])
    return model


def fit(model, args, train_batches, validation_batches, callbacks=()):
    """Trains the model, scoring it on the validation slice after every epoch; returns the per-epoch History."""
    # shuffle=False: the training pipeline shuffles itself, and Keras ignores (and warns about) this flag
    # for a tf.data.Dataset.
    history = model.fit(
        train_batches,
        validation_data=validation_batches,
        epochs=args.epochs,
        verbose=2,
        shuffle=False,
        callbacks=list(callbacks),
    )
    return history.history


# ## One trial, the video's way
#
# Train the model, then write the trial's row yourself: `hp.hparams` records the trial's values (and its id, the
# row's name), and `tf.summary.scalar` writes the declared metrics, one point per epoch at the epoch's number.
# The last point of each is the row's value in the table and its line in the other views; the whole series is
# the plot under the row's "Show Metrics". The training curves go to the same run, for the Scalars tab only.


def run_trial_and_log(trial_dir, trial, trial_id, model, args, train_batches, validation_batches):
    history = fit(model, args, train_batches, validation_batches)
    writer = tf.summary.create_file_writer(str(trial_dir))
    with writer.as_default():
        hp.hparams(trial, trial_id=trial_id)
        for epoch in range(args.epochs):
            tf.summary.scalar(METRIC_ACCURACY, history["val_accuracy"][epoch], step=epoch)
            tf.summary.scalar(METRIC_LOSS, history["val_loss"][epoch], step=epoch)
            tf.summary.scalar(TRAINING_ACCURACY, history["accuracy"][epoch], step=epoch)
            tf.summary.scalar(TRAINING_LOSS, history["loss"][epoch], step=epoch)
    writer.close()
    return history


# ## One trial with callbacks (`--fit`)
#
# TensorBoard's own HParams tutorial lets callbacks write the trial while `model.fit` runs: `hp.KerasCallback`
# writes the row (the trial's values when training begins, its end and status when it ends), and
# `keras.callbacks.TensorBoard` writes the curves into the trial's `train` and `validation` subdirectories, where
# `FIT_METRICS` reads them. The curves then appear while the trial trains, not after it.


def run_trial_with_callbacks(trial_dir, trial, trial_id, model, args, train_batches, validation_batches):
    # Given a path, hp.KerasCallback would open a writer of its own and never close it: give it one to close.
    writer = tf.summary.create_file_writer(str(trial_dir))
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(trial_dir), write_graph=False),
        hp.KerasCallback(writer, trial, trial_id=trial_id),
    ]
    try:
        return fit(model, args, train_batches, validation_batches, callbacks)
    finally:
        writer.close()


# ## The search
#
# Every trial starts from the same seed, with a fresh pipeline: its first weights and its batches do not depend
# on which trials ran before it, so a trial scores the same in the grid, in a sample and in a rerun. The script
# keeps the trial with the best validation accuracy on its last epoch.


def run_search(args, dataset, training_part, validation_part, experiment_dir):
    """Runs the chosen trials; returns the model and the directory of the best one."""
    # validation_part.test is the validation slice: test_pipeline batches it (no augmentation, no shuffle).
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    print(
        f"Trials train on {training_part.num_train} images and are scored on {validation_part.num_test} "
        "held out of training."
    )
    run_trial = run_trial_with_callbacks if args.fit else run_trial_and_log
    trials = choose_trials(args)
    best = None
    for position, (number, trial) in enumerate(trials, start=1):
        name = trial_name(number, trial)
        print(f"Trial {position}/{len(trials)}: {name}")
        keras.utils.set_random_seed(args.seed)
        train_batches = starter.train_pipeline(training_part, args.batch_size)
        model = build_model(dataset, trial)
        row_name = trial_id(number, experiment_dir.name)
        history = run_trial(experiment_dir / name, trial, row_name, model, args, train_batches, validation_batches)
        accuracy, loss = history["val_accuracy"][-1], history["val_loss"][-1]
        print(f"  validation accuracy {accuracy:.4f}, validation loss {loss:.4f}")
        if best is None or accuracy > best[0]:
            best = (accuracy, name, model, experiment_dir / name)
    best_accuracy, best_name, best_model, best_dir = best
    print(f"Best of the {len(trials)} trials by validation accuracy: {best_name} ({best_accuracy:.4f})")
    return best_model, best_dir


# ## The selected trial meets the test split, once
#
# Only the selected trial is measured on the test split, after the choice: its score there is an unbiased
# estimate of how well the search did. It is printed, and written into the selected trial's own run as a scalar
# that is not declared: it shows in the Scalars tab, and no HParams column is left empty by the other trials.


def log_test_accuracy(trial_dir, test_accuracy, step):
    writer = tf.summary.create_file_writer(str(trial_dir))
    with writer.as_default():
        tf.summary.scalar(TEST_ACCURACY, test_accuracy, step=step)
    writer.close()


def print_where_to_look(experiment_dir):
    """The view command (which says when the run holds more runs than TensorBoard ticks), and where to go next."""
    plumbing.print_view_command(experiment_dir, "HParams")
    print("Searching over several processes or machines: see 14_keras_tuner.py.")


# ## Run the lesson
#
# `main` holds a validation slice out of the training data and runs the search on it. Then it measures the
# selected trial on the test split, once, and prints the command that shows the HParams table.


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    # Trials are scored on a slice held out of the training data; the test split waits for the selected trial.
    training_part, validation_part = starter.hold_out_validation(dataset)
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    experiment_dir = plumbing.new_run_dir(args.logdir, LESSON)
    write_experiment_config(experiment_dir, fit=args.fit)
    best_model, best_dir = run_search(args, dataset, training_part, validation_part, experiment_dir)
    test_loss, test_accuracy = best_model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    log_test_accuracy(best_dir, test_accuracy, step=args.epochs - 1)
    print(f"Its accuracy on the held-out test split: {test_accuracy:.4f} (test loss {test_loss:.4f})")
    print_where_to_look(experiment_dir)


if __name__ == "__main__":
    ctrl_c.run(main)
