"""
Title: Hyperparameter search in the HParams dashboard
Description: Declare the search space and metrics once, log one run per trial, compare them side by side.

TensorBoard tab: HParams (Table view, Parallel coordinates view, Scatter plot matrix view). Each trial
is a row with its units, dropout and learning_rate and its validation_accuracy and validation_loss,
measured on a validation slice held out of the TRAINING data. Sort by validation_accuracy to select the
best trial; the script then measures that one trial, once, on the test split, and prints the result.
Run it:   python 06_hparams.py              (the full grid of 36 trials, 1 epoch each, as in the video)
          python 06_hparams.py --trials 8   (a random sample of the grid: random search)
          python 06_hparams.py --quick      (two tiny trials)
          Split the trials over N processes or machines sharing one logdir, with one experiment name:
          python 06_hparams.py --experiment sweep --shard 1/2   and   ... --experiment sweep --shard 2/2
View it:  tensorboard --logdir logs/06_hparams
Time on a 2-core CPU: about 15 s with --quick; about 2 minutes for the full grid of 36 trials on digits.
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too.
import ctrl_c

import argparse
import itertools
import random
import re

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

# Without declared metrics the dashboard shows no metric columns. Each trial logs these tags, measured on
# the validation slice: the test split must not take part in choosing, or its score is biased upward.
METRIC_ACCURACY = "validation_accuracy"
METRIC_LOSS = "validation_loss"
METRICS = [
    hp.Metric(METRIC_ACCURACY, display_name="Validation accuracy"),
    hp.Metric(METRIC_LOSS, display_name="Validation loss"),
]


def shard(text):
    """argparse type for --shard: 'K/N' with 1 <= K <= N."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, like 1/2, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def make_parser():
    """The shared flags and this script's own: the sample, the shard and the experiment name."""
    parser = plumbing.make_parser("Hyperparameter search logged to the HParams dashboard.", epochs=1)
    parser.add_argument("--trials", type=plumbing.positive_int, help="run a random sample of N grid trials")
    parser.add_argument("--shard", type=shard, default=(1, 1), help="run only share K of N, e.g. 1/2")
    parser.add_argument(
        "--experiment",
        help="name of the experiment directory; give the same name to every shard so they share it",
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


def run_trial(dataset, args, trial, train_batches, validation_batches):
    """Trains one model with the trial's hyperparameters; returns it with its validation (loss, accuracy)."""
    num_classes = len(dataset.class_names)
    model = starter.build_cnn(dataset.image_shape, num_classes, units=trial[HP_UNITS], dropout=trial[HP_DROPOUT])
    optimizer = keras.optimizers.Adam(learning_rate=trial[HP_LEARNING_RATE])
    model.compile(optimizer=optimizer, loss=starter.make_loss(), metrics=["accuracy"])
    # shuffle=False: the training pipeline shuffles itself, and Keras ignores (and warns about) this flag
    # for a tf.data.Dataset.
    model.fit(train_batches, epochs=args.epochs, verbose=2, shuffle=False)
    # Trials are compared on the validation slice: not on training data, which rewards overfitting, and
    # not on the test split, which would then no longer be an unbiased measure of the selected model.
    loss, accuracy = model.evaluate(validation_batches, verbose=0)
    return model, loss, accuracy


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    if args.experiment:
        experiment_dir = plumbing.shared_run_dir(args.logdir, LESSON, args.experiment)
    else:
        experiment_dir = plumbing.new_run_dir(args.logdir, LESSON)

    # The pipelines are built once, for every trial: each fills its cache on the first trial's first pass.
    # Trials are scored on a validation slice of the training data; the test split is left for the selected trial.
    training_part, validation_part = starter.hold_out_validation(dataset)
    train_batches = starter.train_pipeline(training_part, args.batch_size)
    # validation_part.test is the validation slice: test_pipeline batches it (no augmentation, no shuffle).
    validation_batches = starter.test_pipeline(validation_part, args.batch_size)
    print(
        f"Trials train on {training_part.num_train} images and are scored on {validation_part.num_test} "
        "held out of training."
    )

    # The experiment's hparams and metrics are declared once, at the root of the experiment.
    with tf.summary.create_file_writer(str(experiment_dir)).as_default():
        hp.hparams_config(hparams=HPARAMS, metrics=METRICS)

    best = None
    trials = choose_trials(args)
    for position, (number, trial) in enumerate(trials, start=1):
        name = trial_name(number, trial)
        print(f"Trial {position}/{len(trials)}: {name}")
        trial_dir = experiment_dir / name
        # A shared experiment never overwrites a trial another run has logged. An empty directory is a trial
        # that was stopped before it logged anything (Ctrl-C): running it again is what the user wants.
        if trial_dir.exists() and any(trial_dir.iterdir()):
            plumbing.fail(f"{trial_dir} already exists; pick a new --experiment name to run the trials again")
        trial_dir.mkdir(exist_ok=True)
        model, loss, accuracy = run_trial(dataset, args, trial, train_batches, validation_batches)
        writer = tf.summary.create_file_writer(str(trial_dir))
        with writer.as_default():
            # The dashboard makes one row per trial_id, and averages the runs that share one. The run
            # directory's name (after the trial's, which the table's narrow column shows first) makes the id
            # unique to this run: a rerun into the same logdir adds rows instead of merging into the earlier
            # run's, while shards of one --experiment share its name.
            hp.hparams(trial, trial_id=f"{name} ({experiment_dir.name})")
            tf.summary.scalar(METRIC_ACCURACY, accuracy, step=args.epochs)
            tf.summary.scalar(METRIC_LOSS, loss, step=args.epochs)
        writer.close()
        print(f"  validation accuracy {accuracy:.4f}, validation loss {loss:.4f}")
        if best is None or accuracy > best[0]:
            best = (accuracy, name, model)

    # Only the selected trial meets the test split, once: its score there is an unbiased estimate.
    best_accuracy, best_name, best_model = best
    test_loss, test_accuracy = best_model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    which = "this shard's" if args.shard[1] > 1 else "the"
    print(f"Best of {which} {len(trials)} trials by validation accuracy: {best_name} ({best_accuracy:.4f})")
    print(f"Its accuracy on the held-out test split: {test_accuracy:.4f} (test loss {test_loss:.4f})")
    if args.shard[1] > 1:
        print(
            "Each shard selects its own best. Once every shard has finished, the overall best is the trial with "
            "the highest validation accuracy (sort the HParams table by it); report that shard's test accuracy."
        )
    plumbing.print_view_command(experiment_dir, "HParams")


if __name__ == "__main__":
    ctrl_c.run(main)
