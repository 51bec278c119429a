"""
Title: Hyperparameter search with KerasTuner, in one process or on a chief and workers
Description: KerasTuner picks units, dropout and learning rate; `keras.callbacks.TensorBoard` makes each trial a row.

TensorBoard tabs: HParams (a row per trial, with its validation metrics), Scalars (each trial's curves).
Run it:   python 14_keras_tuner.py --workers 2     (or --quick for a smoke test; --trials N)
View it:  tensorboard --logdir logs/14_keras_tuner/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import os
import pathlib
import warnings

import keras
import keras_tuner
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

import launcher
import plumbing
import starter

LESSON = "14_keras_tuner"  # its logs go to <logdir>/14_keras_tuner/

DEFAULT_TRIALS = 8
QUICK_TRIALS = 2
# The video's search space.
UNITS = [32, 64, 128]
DROPOUTS = [0.1, 0.2, 0.3, 0.5]
LEARNING_RATES = [1e-3, 1e-4, 1e-5]
# The score that selects a trial: its accuracy on the validation slice, never on the test split.
OBJECTIVE = "val_accuracy"
# The local search as a whole must end within this time, or every process is stopped.
LOCAL_RUN_TIMEOUT_SECONDS = 4 * 60 * 60
# KerasTuner gives every search's trials the IDs 0, 1, ..., and HParams averages the rows of one ID across runs.
SAME_TRIAL_IDS_MERGE = (
    "Runs of 14 viewed together merge the rows of the same trial ID in HParams: compare them in Scalars,"
    " or view one run's directory."
)
ACROSS_MACHINES = """
On several machines: one runs the chief (it holds the search and hands out trials), the others are workers, each
with its own KERASTUNER_TUNER_ID; all use the same --run-dir on storage they share (the workers save each trial's
weights there, and the chief reads the best one back). The chief first, on host0:
  KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=0.0.0.0 KERASTUNER_ORACLE_PORT=8000 \\
      python 14_keras_tuner.py --trials 8 --run-dir /shared/logs/14_keras_tuner/sweep
then on each worker (tuner1, tuner2, ...):
  KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=host0 KERASTUNER_ORACLE_PORT=8000 \\
      python 14_keras_tuner.py --trials 8 --run-dir /shared/logs/14_keras_tuner/sweep"""

# ## The search space, in the model-building function
#
# KerasTuner asks for a function that builds and compiles a model from `hp`, the trial's hyperparameters. Each
# `hp.Choice` declares one hyperparameter and returns this trial's value of it: the video's units, dropout and
# learning rate, on the starter's CNN.


def make_build_model(dataset):
    """The hypermodel: `build_model(hp)` returns the starter's CNN with this trial's hyperparameters, compiled."""

    def build_model(hp):
        units = hp.Choice("units", UNITS)
        dropout = hp.Choice("dropout", DROPOUTS)
        learning_rate = hp.Choice("learning_rate", LEARNING_RATES)
        model = starter.build_cnn(dataset.image_shape, len(dataset.class_names), units=units, dropout=dropout)
        # `metrics=` by name: the third positional argument of compile is `loss_weights`.
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=starter.make_loss(), metrics=["accuracy"]
        )
        return model

    return build_model


# ## The tuner and its state
#
# `RandomSearch` tries `--trials` random combinations, drawn with `--seed`. Its state (the trials, each trial's
# best weights) lives in `directory/project_name`, here inside the run directory, next to the logs. With
# `overwrite=False` a tuner that finds a state there picks it up where it stopped; a new run gets a new run
# directory, so a rerun never resumes or overwrites an earlier search.


def make_tuner(args, dataset, run_dir):
    """A random search of `args.trials` trials that keeps its state in `<run_dir>/tuner`."""
    return keras_tuner.RandomSearch(
        make_build_model(dataset),
        objective=OBJECTIVE,
        max_trials=args.trials,
        seed=args.seed,
        directory=str(run_dir),
        project_name="tuner",
        overwrite=False,
    )


# ## The search, with TensorBoard
#
# Given `keras.callbacks.TensorBoard`, KerasTuner gives every trial a directory of its own,
# `<log_dir>/<trial>/execution0` (its `train` and `validation` curves, in the Scalars tab), and adds TensorBoard's
# `hp.KerasCallback` there, which writes the trial's hyperparameters: one row per trial in the HParams tab, with
# the last value of each of its curves as metric columns. Every trial is scored on a validation slice held out
# of the training data; the test split stays out of the search.
#
# Left to itself, the dashboard would make a column of every curve (the training ones, the learning rate) and
# guess each hyperparameter's range from the values tried. `hp.hparams_config`, written once into the run
# directory, declares the columns instead: the three hyperparameters with every value they can take, and the two
# validation metrics, each named by its tag and by its run's name (`validation`), where Keras writes it.


def write_hparams_config(run_dir):
    """Declares the HParams table's columns for every trial of this run."""
    with tf.summary.create_file_writer(str(run_dir)).as_default():
        hparams_api.hparams_config(
            hparams=[
                hparams_api.HParam("units", hparams_api.Discrete(UNITS)),
                hparams_api.HParam("dropout", hparams_api.Discrete(DROPOUTS)),
                hparams_api.HParam("learning_rate", hparams_api.Discrete(LEARNING_RATES)),
            ],
            metrics=[
                hparams_api.Metric("epoch_accuracy", group="validation", display_name="Validation accuracy"),
                hparams_api.Metric("epoch_loss", group="validation", display_name="Validation loss"),
            ],
        )


def search(tuner, args, dataset, run_dir):
    """Runs the search: the trials this process is given (all of them, in one process)."""
    training_part, validation_part = starter.hold_out_validation(dataset)
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    train_batches = starter.train_pipeline(training_part, args.batch_size)
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    tuner.search(
        train_batches,
        validation_data=validation_batches,
        epochs=args.epochs,
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(run_dir))],
        # Passed on to model.fit. shuffle=False: the training pipeline shuffles itself, and Keras ignores (and
        # warns about) this flag for a tf.data pipeline. verbose=2: one line per epoch, also in a worker's log.
        shuffle=False,
        verbose=2,
    )


# ## The selected trial, measured once on the test split
#
# The search selected a trial on the validation slice. `get_best_models` rebuilds its model with the weights of
# its best epoch; the test split measures it once, an estimate that no choice was made on.


def measure_best_trial(tuner, args, dataset):
    """Prints the best trial's hyperparameters and its accuracy on the test split."""
    (best_trial,) = tuner.oracle.get_best_trials(1)
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state too, which a model that only measures does not build: Keras
        # warns that it skips it ("Skipping variable loading for optimizer"). The weights themselves are loaded.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        (model,) = tuner.get_best_models(1)
    _, test_accuracy = model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    values = ", ".join(f"{name} {value:g}" for name, value in best_trial.hyperparameters.values.items())
    # Named by its ID, the HParams table's; KerasTuner's own lines count trials from 1 ("Trial 1 Complete").
    print(
        f"Best trial: ID {best_trial.trial_id} in the HParams table (KerasTuner's lines count from 1): {values}, "
        f"validation accuracy {best_trial.score:.4f}"
    )
    print(f"Its accuracy on the test split, measured once: {test_accuracy:.4f}")


# ## A chief and workers
#
# KerasTuner's own distributed mode runs the same script in several processes. Three environment variables say
# who each one is: `KERASTUNER_TUNER_ID` (`chief`, or a worker's name), and `KERASTUNER_ORACLE_IP` and
# `KERASTUNER_ORACLE_PORT`, where the chief listens. The chief holds the search (the "oracle") and hands each
# worker a trial when it asks, over gRPC; the workers train. Here they are processes on this machine, on a free
# localhost port, started and stopped by launcher.py; the same variables work across machines.


def launch_chief_and_workers(args):
    """Starts a chief and `--workers` workers of this script on this machine, and waits for them."""
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    (port,) = launcher.free_ports(1)
    oracle = {"KERASTUNER_ORACLE_IP": launcher.LOCALHOST, "KERASTUNER_ORACLE_PORT": str(port)}
    argv = [*launcher.shared_flags(args), "--trials", str(args.trials), "--run-dir", str(run_dir)]
    print(f"Starting a chief on {launcher.LOCALHOST}:{port} and {args.workers} workers; each line shows who wrote it.")
    with launcher.LocalProcesses(LESSON, run_dir) as processes:
        processes.start("chief", argv, {**oracle, "KERASTUNER_TUNER_ID": "chief"})
        for index in range(1, args.workers + 1):
            processes.start(f"worker {index}", argv, {**oracle, "KERASTUNER_TUNER_ID": f"tuner{index}"})
        processes.wait(timeout=LOCAL_RUN_TIMEOUT_SECONDS)
    return run_dir


def run_search(args):
    """One process's part: the whole search (one process), the chief's or a worker's (KERASTUNER_TUNER_ID)."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    dataset = starter.load_dataset(args.dataset, quick=args.quick, verbose=tuner_id in (None, "chief"))
    run_dir = args.run_dir or plumbing.new_run_dir(args.logdir, LESSON)
    tuner = make_tuner(args, dataset, run_dir)
    if tuner_id in (None, "chief"):
        write_hparams_config(run_dir)
    # The chief's search serves the trials to the workers, and returns when they have all been run.
    search(tuner, args, dataset, run_dir)
    if tuner_id in (None, "chief"):
        measure_best_trial(tuner, args, dataset)
    return run_dir


# ## Run the lesson


def make_parser():
    parser = plumbing.make_parser("A KerasTuner search, each trial a row in TensorBoard's HParams tab.", epochs=3)
    parser.add_argument("--trials", type=plumbing.positive_int, help=f"trials to run (default: {DEFAULT_TRIALS})")
    parser.add_argument("--workers", type=plumbing.positive_int, help="run on a chief and N workers on this machine")
    parser.add_argument("--run-dir", type=pathlib.Path, help="the run directory to write into (default: a new one)")
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    if args.trials is None:
        args.trials = QUICK_TRIALS if args.quick else DEFAULT_TRIALS
    if args.workers and "KERASTUNER_TUNER_ID" not in os.environ:
        run_dir = launch_chief_and_workers(args)
        print(ACROSS_MACHINES)
    else:
        run_dir = run_search(args)
        # A process started by the launcher leaves the last lines to the launcher.
        if args.run_dir is not None:
            return
    plumbing.print_view_command(run_dir, "HParams")
    print(SAME_TRIAL_IDS_MERGE)


if __name__ == "__main__":
    ctrl_c.run(main)
