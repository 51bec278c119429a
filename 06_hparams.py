"""
Title: Hyperparameter search in the HParams dashboard
Description: Declare the search space and metrics once, log one run per trial, compare them side by side.

TensorBoard tab: HParams (Table view, Parallel coordinates view, Scatter plot matrix view), and Scalars. Each
trial is a row with its units, dropout and learning_rate and its validation_accuracy and validation_loss,
measured on a validation slice held out of the TRAINING data; tick a row's Show Metrics to see its per-epoch
validation curves (its training curves are in the Scalars tab, run `<trial>`). Sort by validation_accuracy to
select the best trial; the script then measures that one trial, once, on the test split: its test_accuracy
column is filled in that row only (a process that ran only part of the trials, a shard, selects nothing and
leaves the test split alone). The Trial ID column starts with the trial's number and its run's time,
which tell rows apart (the column is cut after about 14 characters).
Two ways to log a trial: by default the script writes the row itself after `model.fit` (`hp.hparams` and
`tf.summary.scalar`, the video's way); with --fit, callbacks write it during `model.fit` (`hp.KerasCallback` and
`keras.callbacks.TensorBoard`, the way of TensorBoard's own HParams tutorial). Both kinds of rows land in one
table, each with validation columns of its own (Keras' callback names its tags and runs its own way).
Run it:   python 06_hparams.py              (the full grid of 36 trials, 1 epoch each, as in the video)
          python 06_hparams.py --trials 8   (a random sample of the grid, drawn with --seed: random search)
          python 06_hparams.py --quick      (two tiny trials)
          python 06_hparams.py --fit        (each trial logged by hp.KerasCallback during model.fit)
          Split the trials over N processes or machines sharing one logdir, with one experiment name:
          python 06_hparams.py --experiment sweep --shard 1/2   and   ... --experiment sweep --shard 2/2
          Each process claims a trial before it trains it, so two processes never write one trial.
View it:  tensorboard --logdir logs/06_hparams
Time on a 2-core CPU: about 15 s with --quick; about 2 minutes for the full grid of 36 trials on digits.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
import ctrl_c

import argparse
import itertools
import os
import random
import re
import socket

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

import plumbing
import starter

LESSON = "06_hparams"  # its logs go to <logdir>/06_hparams/

# The video's search space. Names have no spaces, so they are valid tags and easy to type in filters.
HP_UNITS = hp.HParam("units", hp.Discrete([32, 64, 128]))
HP_DROPOUT = hp.HParam("dropout", hp.Discrete([0.1, 0.2, 0.3, 0.5]))
HP_LEARNING_RATE = hp.HParam("learning_rate", hp.Discrete([1e-3, 1e-4, 1e-5]))
HPARAMS = [HP_UNITS, HP_DROPOUT, HP_LEARNING_RATE]

# Without declared metrics the dashboard shows no metric columns. Each trial logs the validation tags per
# epoch, measured on the validation slice: the test split must not take part in choosing, or its score is
# biased upward. Only the selected trial gets a test_accuracy, measured once, after the choice.
METRIC_ACCURACY = "validation_accuracy"
METRIC_LOSS = "validation_loss"
METRIC_TEST_ACCURACY = "test_accuracy"
# With --fit, Keras' TensorBoard callback writes the validation curves as `epoch_accuracy` and `epoch_loss`
# into the trial's `validation` subdirectory: a metric names its tag AND that run (its group). Declared by its
# tag alone, a metric is looked for in the trial's own run, where Keras writes nothing, and its column stays empty.
FIT_GROUP = "validation"
METRICS = [
    hp.Metric(METRIC_ACCURACY, display_name="Validation accuracy"),
    hp.Metric(METRIC_LOSS, display_name="Validation loss"),
    hp.Metric(
        METRIC_TEST_ACCURACY,
        display_name="Test accuracy",
        description="Only in the selected trial's row: measured once, on the test split, after the choice.",
    ),
    hp.Metric("epoch_accuracy", group=FIT_GROUP, display_name="Validation accuracy (--fit)"),
    hp.Metric("epoch_loss", group=FIT_GROUP, display_name="Validation loss (--fit)"),
]
# The training curves go to the Scalars tab only: declared, they would be columns too.
TRAINING_ACCURACY = "training_accuracy"
TRAINING_LOSS = "training_loss"


def shard(text):
    """argparse type for --shard: 'K/N' with 1 <= K <= N."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, like 1/2, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def make_parser():
    """The shared flags and this script's own: the sample, the shard, the experiment name and --fit."""
    parser = plumbing.make_parser("Hyperparameter search logged to the HParams dashboard.", epochs=1)
    parser.add_argument(
        "--trials", type=plumbing.positive_int, help="run a random sample of N grid trials, drawn with --seed"
    )
    parser.add_argument("--shard", type=shard, default=(1, 1), help="run only share K of N, e.g. 1/2")
    parser.add_argument(
        "--experiment",
        help="name of the experiment directory; give the same name to every shard so they share it",
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
    """The (grid number, trial) pairs this process runs: the grid, or a sample of it, then this shard's share.

    A trial keeps its number in the grid, so it has the same name in every sample. The sample is drawn with
    --seed, so every shard of one experiment (same flags) draws the same sample and the shards split it exactly.
    """
    trials = list(enumerate(all_trials()))
    if args.quick:
        # The two corners of the grid: the smallest, slowest-learning model and the largest, fastest one.
        trials = [trials[0], trials[-1]]
    elif args.trials is not None:
        trials = random.Random(args.seed).sample(trials, min(args.trials, len(trials)))
    index, count = args.shard
    return [trial for position, trial in enumerate(trials) if position % count == index - 1]


def trial_name(number, trial):
    return f"trial-{number:02d}-units_{trial[HP_UNITS]}-dropout_{trial[HP_DROPOUT]}-lr_{trial[HP_LEARNING_RATE]:g}"


def trial_id(number, run_name):
    """The trial's row name in the dashboard: its number, then its run, e.g. "07 000512 20261202".

    The dashboard makes one row per trial_id and averages the runs that share one, so the id holds the run
    directory's name: a rerun into the same logdir adds rows instead of merging into an earlier run's, while
    the shards of one --experiment share its name. The Trial ID column is cut after about 14 characters, so
    what tells rows apart comes first: the trial's number, then (for a run directory named <date>-<time>) the
    time, which is what differs between two runs of one day.
    """
    date, dash, time = run_name.partition("-")
    if dash and len(date) == 8 and date.isdigit():
        run_name = f"{time} {date}"
    return f"{number:02d} {run_name}"


# ----- Claiming a trial: two processes on one --experiment never write the same trial ------------------


def this_process():
    return f"{socket.gethostname()}:{os.getpid()}"


def is_running(claimant):
    """True unless the process named "host:pid" is known to be gone; unknown counts as running."""
    host, _, pid = claimant.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process (or a claim being written this instant): it can't be checked
    if int(pid) == os.getpid():
        # This process runs one trial at a time, so its own earlier claim is from an earlier main() in the same
        # Jupyter kernel, stopped by the stop button: it is not running that trial any more.
        return False
    try:
        os.kill(int(pid), 0)  # signal 0 sends nothing: it only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def claim_trial(trial_dir):
    """Claims the trial for this process before it trains it. Returns None if this process may run it, else
    why it must skip it.

    The rule. A claim is a file `claim-<n>` in the trial's directory holding the claimant's "host:pid", created
    with O_EXCL: of several processes creating the same file, exactly one succeeds, atomically (POSIX). A trial
    is skipped when its latest claim's process still runs (or is on another machine, where that can't be
    checked), or when its directory holds an event file: a trial's events are only ever written by the process
    that claimed it, so they are never mixed with another's. A claim whose process is gone and whose directory
    holds no event file is a trial stopped before it logged anything (Ctrl-C during training): the next process
    claims it again, with claim-<n+1>. The claimant is checked before the events, because a claimant that is
    gone has closed its writers. With --fit the callbacks write from the first batch on, so a --fit trial stopped
    halfway keeps what it logged and is not run again; pick a new --experiment name for that.
    """
    trial_dir.mkdir(exist_ok=True)
    claims = sorted(trial_dir.glob("claim-*"), key=lambda path: int(path.name.removeprefix("claim-")))
    if claims:
        claimant = claims[-1].read_text().strip()
        if is_running(claimant):
            return f"is being run by process {claimant or '(starting)'}"
    if any("tfevents" in path.name for path in trial_dir.rglob("*")):
        return "was run by an earlier process"
    try:
        descriptor = os.open(trial_dir / f"claim-{len(claims) + 1}", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return "was claimed by another process a moment ago"
    with os.fdopen(descriptor, "w") as claim:
        claim.write(this_process() + "\n")
    return None


# ----- Training and logging one trial ----------------------------------------------------------------------


def build_model(dataset, trial):
    num_classes = len(dataset.class_names)
    model = starter.build_cnn(dataset.image_shape, num_classes, units=trial[HP_UNITS], dropout=trial[HP_DROPOUT])
    optimizer = keras.optimizers.Adam(learning_rate=trial[HP_LEARNING_RATE])
    model.compile(optimizer=optimizer, loss=starter.make_loss(), metrics=["accuracy"])
    return model


def fit(model, args, train_batches, validation_batches, callbacks=()):
    """Trains the model, scoring it on the validation slice after every epoch; returns the per-epoch History.

    Trials are compared on the validation slice: not on training data, which rewards overfitting, and not on
    the test split, which would then no longer be an unbiased measure of the selected model.
    """
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


def run_trial_and_log(trial_dir, trial, trial_id, model, args, train_batches, validation_batches):
    """The video's way: train, then write the trial's row and curves yourself, in one go.

    Written after training, a trial's directory holds a finished trial or no events at all, so a trial stopped
    by Ctrl-C can be claimed again (see claim_trial).
    """
    history = fit(model, args, train_batches, validation_batches)
    writer = tf.summary.create_file_writer(str(trial_dir))
    try:
        with writer.as_default():
            hp.hparams(trial, trial_id=trial_id)
            # One point per epoch, at the epoch's number (0, 1, ...: the steps Keras' callback uses too):
            # the validation tags are the row's metric columns and its curves when the row is expanded.
            for epoch in range(args.epochs):
                tf.summary.scalar(METRIC_ACCURACY, history["val_accuracy"][epoch], step=epoch)
                tf.summary.scalar(METRIC_LOSS, history["val_loss"][epoch], step=epoch)
                tf.summary.scalar(TRAINING_ACCURACY, history["accuracy"][epoch], step=epoch)
                tf.summary.scalar(TRAINING_LOSS, history["loss"][epoch], step=epoch)
    finally:
        writer.close()
    return history


def run_trial_with_callbacks(trial_dir, trial, trial_id, model, args, train_batches, validation_batches):
    """--fit, the HParams tutorial's way: callbacks write the trial during model.fit.

    hp.KerasCallback writes the row: the hparams when training begins, the session's end (status: success) when
    it ends. keras.callbacks.TensorBoard writes the curves into the trial's `train` and `validation`
    subdirectories (`epoch_accuracy`, `epoch_loss` at epochs 0, 1, ...), which the declared metrics name.
    """
    # hp.KerasCallback would make its own writer from a path and never close it; given one, the script closes it.
    writer = tf.summary.create_file_writer(str(trial_dir))
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(trial_dir), write_graph=False),
        hp.KerasCallback(writer, trial, trial_id=trial_id),
    ]
    try:
        return fit(model, args, train_batches, validation_batches, callbacks)
    finally:
        writer.close()


def log_test_accuracy(trial_dir, test_accuracy, step):
    """Writes the selected trial's test accuracy into its run: the row's Test accuracy column."""
    writer = tf.summary.create_file_writer(str(trial_dir))
    try:
        with writer.as_default():
            tf.summary.scalar(METRIC_TEST_ACCURACY, test_accuracy, step=step)
    finally:
        writer.close()


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    # Trials are scored on a validation slice of the training data; the test split is left for the selected trial.
    training_part, validation_part = starter.hold_out_validation(dataset)
    plumbing.note_large_batch(args.batch_size, training_part.num_train)
    if args.experiment:
        experiment_dir = plumbing.shared_run_dir(args.logdir, LESSON, args.experiment)
    else:
        experiment_dir = plumbing.new_run_dir(args.logdir, LESSON)

    # validation_part.test is the validation slice: test_pipeline batches it (no augmentation, no shuffle).
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    print(
        f"Trials train on {training_part.num_train} images and are scored on {validation_part.num_test} "
        "held out of training."
    )

    # The experiment's hparams and metrics are declared once, at the root of the experiment. The dashboard
    # takes the columns from the first declaration it finds in its logdir, so both ways of logging (default and
    # --fit) declare the same ones.
    config_writer = tf.summary.create_file_writer(str(experiment_dir))
    try:
        with config_writer.as_default():
            hp.hparams_config(hparams=HPARAMS, metrics=METRICS)
    finally:
        config_writer.close()

    run_trial = run_trial_with_callbacks if args.fit else run_trial_and_log
    best = None
    trials = choose_trials(args)
    ran = 0
    for position, (number, trial) in enumerate(trials, start=1):
        name = trial_name(number, trial)
        trial_dir = experiment_dir / name
        # A shared experiment never has two processes write one trial: claim it before training it.
        skipped = claim_trial(trial_dir)
        if skipped:
            print(f"Trial {position}/{len(trials)}: {name} {skipped}: skipped")
            continue
        print(f"Trial {position}/{len(trials)}: {name}")
        # Every trial starts from the same seed, with a fresh pipeline: its first weights and its batches do not
        # depend on which trials ran before it in this process, so a trial scores the same in the full grid, in a
        # shard, in a sample or rerun after a Ctrl-C.
        keras.utils.set_random_seed(args.seed)
        train_batches = starter.train_pipeline(training_part, args.batch_size)
        model = build_model(dataset, trial)
        history = run_trial(
            trial_dir, trial, trial_id(number, experiment_dir.name), model, args, train_batches, validation_batches
        )
        ran += 1
        accuracy, loss = history["val_accuracy"][-1], history["val_loss"][-1]
        print(f"  validation accuracy {accuracy:.4f}, validation loss {loss:.4f}")
        if best is None or accuracy > best[0]:
            best = (accuracy, name, model, trial_dir)

    if best is None:
        print(
            f"This process ran none of its {len(trials)} trials: other processes have them. To run the trials "
            "again, pick a new --experiment name."
        )
        plumbing.print_view_command(experiment_dir, "HParams")
        return

    best_accuracy, best_name, best_model, best_dir = best
    if args.shard[1] > 1 or ran < len(trials):
        # A process that ran only part of the experiment cannot select: its best is not the experiment's. Measuring
        # each part's best on the test split would put several test scores in the table, to be compared: that is
        # selecting on the test split.
        print(f"Best of the {ran} trials this process ran, by validation accuracy: {best_name} ({best_accuracy:.4f})")
        print(
            "This process ran part of the experiment, so it selects nothing and leaves the test split alone: once "
            "every process has finished, sort the HParams table by Validation accuracy to select."
        )
        plumbing.print_view_command(experiment_dir, "HParams")
        return

    # Only the selected trial meets the test split, once: its score there is an unbiased estimate.
    test_loss, test_accuracy = best_model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    log_test_accuracy(best_dir, test_accuracy, step=args.epochs - 1)
    print(f"Best of the {ran} trials by validation accuracy: {best_name} ({best_accuracy:.4f})")
    print(f"Its accuracy on the held-out test split: {test_accuracy:.4f} (test loss {test_loss:.4f})")
    plumbing.print_view_command(experiment_dir, "HParams")


if __name__ == "__main__":
    ctrl_c.run(main)
