"""
Title: Hyperparameter search in the HParams dashboard
Description: Declare the search space and metrics once, log one run per trial, compare them side by side.

TensorBoard tab: HParams (Table view, Parallel coordinates view, Scatter plot matrix view). Each trial
is a row with its units, dropout and learning_rate and its test_accuracy and test_loss, measured on the
held-out test split. Sort by test_accuracy to find the best trial.
Run it:   python 06_hparams.py              (the full grid of 36 trials, 1 epoch each, as in the video)
          python 06_hparams.py --trials 8   (a random sample of the grid: random search)
          python 06_hparams.py --quick      (two tiny trials)
          Split the trials over N processes or machines sharing one logdir, with one experiment name:
          python 06_hparams.py --experiment sweep --shard 1/2   and   ... --experiment sweep --shard 2/2
View it:  tensorboard --logdir logs/06_hparams
Time on a 2-core CPU: about 10 s with --quick; see the README for the full grid.
"""

import argparse
import itertools
import random
import re

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

import plumbing
import starter

# The video's search space. Names have no spaces, so they are valid tags and easy to type in filters.
HP_UNITS = hp.HParam("units", hp.Discrete([32, 64, 128]))
HP_DROPOUT = hp.HParam("dropout", hp.Discrete([0.1, 0.2, 0.3, 0.5]))
HP_LEARNING_RATE = hp.HParam("learning_rate", hp.Discrete([1e-3, 1e-4, 1e-5]))
HPARAMS = [HP_UNITS, HP_DROPOUT, HP_LEARNING_RATE]

# Without declared metrics the dashboard shows no metric columns. Each trial logs these tags.
METRIC_ACCURACY = "test_accuracy"
METRIC_LOSS = "test_loss"
METRICS = [
    hp.Metric(METRIC_ACCURACY, display_name="Test accuracy"),
    hp.Metric(METRIC_LOSS, display_name="Test loss"),
]


def shard(text):
    """argparse type for --shard: 'K/N' with 1 <= K <= N."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, like 1/2, got {text!r}")
    return int(match.group(1)), int(match.group(2))


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

    A trial keeps its number in the grid, so it has the same name in every sample. The sample uses a fixed
    seed, so every shard draws the same sample and the shards split it exactly.
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


def run_trial(dataset, args, trial):
    """Trains one model with the trial's hyperparameters; returns its held-out (loss, accuracy)."""
    model = starter.compiled_cnn(
        dataset, learning_rate=trial[HP_LEARNING_RATE], units=trial[HP_UNITS], dropout=trial[HP_DROPOUT]
    )
    model.fit(starter.train_pipeline(dataset, args.batch_size), epochs=args.epochs, verbose=2)
    # Trials are compared on the held-out split: scoring them on training data rewards overfitting.
    loss, accuracy = model.evaluate(starter.test_pipeline(dataset, args.batch_size), verbose=0)
    return loss, accuracy


def main():
    parser = plumbing.make_parser("Hyperparameter search logged to the HParams dashboard.", epochs=1)
    parser.add_argument("--trials", type=plumbing.positive_int, help="run a random sample of N grid trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random sample (default: 0)")
    parser.add_argument("--shard", type=shard, default=(1, 1), help="run only share K of N, e.g. 1/2")
    parser.add_argument(
        "--experiment",
        help="name of the experiment directory; give the same name to every shard so they share it",
    )
    args = plumbing.parse_args(parser)
    plumbing.configure_gpu()
    dataset = plumbing.load_from_args(args)
    if args.experiment:
        experiment_dir = plumbing.shared_run_dir(args.logdir, __file__, args.experiment)
    else:
        experiment_dir = plumbing.new_run_dir(args.logdir, __file__)

    # The experiment's hparams and metrics are declared once, at the root of the experiment.
    with tf.summary.create_file_writer(str(experiment_dir)).as_default():
        hp.hparams_config(hparams=HPARAMS, metrics=METRICS)

    results = []
    trials = choose_trials(args)
    for position, (number, trial) in enumerate(trials, start=1):
        name = trial_name(number, trial)
        print(f"Trial {position}/{len(trials)}: {name}")
        trial_dir = experiment_dir / name
        try:
            # exist_ok=False: a shared experiment never overwrites a trial another run has logged.
            trial_dir.mkdir()
        except FileExistsError:
            plumbing.fail(f"{trial_dir} already exists; pick a new --experiment name to run the trials again")
        loss, accuracy = run_trial(dataset, args, trial)
        writer = tf.summary.create_file_writer(str(trial_dir))
        with writer.as_default():
            hp.hparams(trial, trial_id=name)
            tf.summary.scalar(METRIC_ACCURACY, accuracy, step=args.epochs)
            tf.summary.scalar(METRIC_LOSS, loss, step=args.epochs)
        writer.close()
        print(f"  test accuracy {accuracy:.4f}, test loss {loss:.4f}")
        results.append((accuracy, name))

    best_accuracy, best_name = max(results)
    which = "this shard's" if args.shard[1] > 1 else "the"
    print(f"Best of {which} {len(results)} trials: {best_name} with test accuracy {best_accuracy:.4f}")
    plumbing.print_view_command(experiment_dir, "HParams")


if __name__ == "__main__":
    plumbing.run(main)
