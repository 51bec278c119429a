"""
Title: The Profiler: find out whether training waits for its input
Description: Profile a custom training loop fed by a naive and by an optimized tf.data pipeline, and compare.

TensorBoard tab: Profile. Pick a run (`naive/<time>` or `optimized/<time>`), then a tool: the
Overview page (step time split into Input, Host compute and "All others", and a verdict), the Input pipeline
analyzer, or the Trace viewer (the timeline of every profiled step).
Run it:   python 08_profiler.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/08_profiler/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import time

import keras
import tensorflow as tf

import plumbing
import starter

LESSON = "08_profiler"  # its logs go to <logdir>/08_profiler/

# The profile starts after a warm-up of one epoch, and of at least this many steps: the first steps trace the
# training step into a graph, and during the first epoch the optimized pipeline is still filling its cache.
# A profile of them would show start-up costs, not the steady state the lesson compares.
MIN_WARM_UP_STEPS = 3
# Enough steps for the Overview page's step-time graph and a steady average, few enough to stay quick. The
# Overview page counts all but the first and the last of them (checked: 32 profiled steps give 30 rows).
PROFILED_STEPS = 32

# ## Step markers: what the Profile tab counts as a step
#
# The profiler records everything TensorFlow does while it runs, but it only knows where a training step
# begins and ends when the loop tells it. `tf.profiler.experimental.Trace("train", step_num=step, _r=1)` around
# each step is that step marker: the Overview page and the Input pipeline analyzer count one step per marker,
# and everything inside it is that step's time. Fetching the batch (`next(iterator)`) happens inside the
# marker, so that the time spent waiting for input is part of the step, as it is in training.
# (Keras 3's `profile_batch` records no step markers: docs/limitations.md, "No step markers from profile_batch".)


def run_steps(train_step, iterator, steps, progress):
    """Runs the training steps numbered `steps`, each inside its step marker.

    Returns:
        {step: (seconds waiting for the batch, seconds for the whole step)}, as this script measures them.
    """
    timings = {}
    for step in steps:
        started = time.perf_counter()
        with tf.profiler.experimental.Trace("train", step_num=step, _r=1):
            images, labels = next(iterator)
            fetched = time.perf_counter()
            # float() waits until the step has really finished (on a GPU too), so all its work is inside.
            loss = float(train_step(images, labels))
        timings[step] = (fetched - started, time.perf_counter() - started)
        progress.add(1, values=[("loss", loss)])
    return timings


# ## Starting and stopping the profiler
#
# `tf.profiler.experimental.start(logdir)` begins recording and `tf.profiler.experimental.stop()` writes what
# it recorded to `<logdir>/plugins/profile/<time>/<host>.xplane.pb`, which the Profile tab lists as the run
# `<logdir>/<time>`. A profile is large and slows training down, so only a few steps are recorded, after a
# warm-up epoch: `try`/`finally` writes the profile even when Ctrl-C stops the run halfway.


def train_and_profile(batches, dataset, args, profile_dir):
    """Trains a fresh CNN on `batches`, profiling PROFILED_STEPS steps after a warm-up epoch into `profile_dir`.

    Returns:
        (share, counted_steps): the share of step time spent waiting for the next batch over the steps the
        Overview page counts (the sum of the waits over the sum of the step times), and those steps.
    """
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    train_step = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3)).train_step
    profiled_steps, counted_steps, epochs = profile_plan(len(batches), args.epochs)
    if epochs > args.epochs:
        print(
            f"Note: an epoch has {len(batches)} batch(es): training {epochs} epochs instead of "
            f"{args.epochs}, to have enough steps to profile."
        )
    total_steps = epochs * len(batches)
    print(
        f"Profiling steps {profiled_steps.start} to {profiled_steps.stop - 1} of {total_steps}, after a warm-up epoch."
    )
    # An explicit iterator, so that fetching each batch can happen inside that step's marker.
    iterator = iter(batches.repeat(epochs))
    # The bar shows each step's own loss (a "stateful" metric, shown as given): 08 logs no loss to compare it with.
    progress = keras.utils.Progbar(total_steps, stateful_metrics=("loss",))

    run_steps(train_step, iterator, range(profiled_steps.start), progress)
    tf.profiler.experimental.start(str(profile_dir))
    try:
        timings = run_steps(train_step, iterator, profiled_steps, progress)
    finally:
        tf.profiler.experimental.stop()
    run_steps(train_step, iterator, range(profiled_steps.stop, total_steps), progress)

    waiting = sum(timings[step][0] for step in counted_steps)
    return waiting / sum(timings[step][1] for step in counted_steps), counted_steps


# ## Which steps to profile
#
# The profiled steps follow a warm-up of one whole epoch, so that the optimized pipeline's cache is full and the
# training step is traced. When the epochs asked for hold too few steps (with `--quick`, or a large
# `--batch-size`), the lesson trains more epochs rather than profiling fewer steps, and says so: a step-time
# graph of one or two steps says nothing.


def profile_plan(steps_per_epoch, epochs, profiled=PROFILED_STEPS):
    """Which steps to profile, which of them the Overview page counts, and how many epochs to train.

    Returns:
        (profiled_steps, counted_steps, epochs_to_train): two ranges of global step numbers (0 is the first
        step), the second without the first and the last profiled step, as the Overview page counts them;
        and a number of epochs of at least `epochs`.
    """
    warm_up = max(MIN_WARM_UP_STEPS, steps_per_epoch)
    profiled_steps = range(warm_up, warm_up + profiled)
    counted_steps = profiled_steps[1:-1]
    epochs_needed = -(-profiled_steps.stop // steps_per_epoch)
    return profiled_steps, counted_steps, max(epochs, epochs_needed)


# ## A naive pipeline to compare with
#
# The optimized pipeline is the starter's: cache, augment whole batches in parallel, prefetch, so the next
# batch is ready before it is asked for. The naive one makes the same batches one image at a time. TensorFlow
# quietly optimizes every pipeline (it injects a prefetch, fuses a map followed by a batch into one parallel
# step, and autotunes buffer sizes), so those optimizations are switched off here: naive then means naive.


def naive_train_pipeline(dataset, batch_size):
    """The same training data the slow way: one image at a time, no cache, no parallelism, no prefetch."""
    augment = starter.make_augment(dataset.image_shape[-1], dataset.flip)
    options = tf.data.Options()
    options.experimental_optimization.inject_prefetch = False
    options.experimental_optimization.map_and_batch_fusion = False
    options.autotune.enabled = False
    return (
        dataset.train.map(starter.normalize)
        .shuffle(min(starter.SHUFFLE_BUFFER, dataset.num_train))
        .map(augment)
        .batch(batch_size)
        .with_options(options)
    )


# ## Reading the verdict
#
# The script prints the share of step time it measured waiting for input, over the steps the Overview page
# counts. The profiler's own Input share is lower: it counts only tf.data's work as Input, and the Python side
# of `next()` as "All others". For the naive pipeline the two differ by a few points; for the optimized one,
# whose short wait is partly Python's, the profiler's share has measured from a point lower to less than half
# of the script's (measured pairs: docs/tabs.md, "Profile").
#
# The Overview page's verdict applies its thresholds to its own figures: "HIGHLY input-bound" from 20% Input,
# "MODERATELY" from 5%. Below that it says "POTENTIALLY input-bound" when 3% or more of the step is "All others"
# (in this loop, Python's own time, not a wait for input), else "NOT input-bound". Offline, the page draws no
# step-time graph: it needs Google Charts from the internet (docs/limitations.md, "The Profile tab offline").


def print_shares(shares, counted_steps, device):
    """Prints each pipeline's measured share of step time spent waiting for input."""
    print(
        f"\nWaiting for input, as a share of step time on the {device}, measured by this script over steps "
        f"{counted_steps.start} to {counted_steps.stop - 1}\n(the steps the Overview page counts: all profiled "
        "steps but the first and the last):"
    )
    for name, share in shares.items():
        print(f"  {name:>9}: {share:.1%}")
    print(
        "The profiler's Input share (Overview page) is lower: by a few points for the naive pipeline, and for the\n"
        "optimized one from a point lower to less than half of this figure, as it counts the Python side of next()\n"
        "as 'All others'. Its verdict's thresholds (20% and 5%) apply to its own figures, not to the ones above."
    )


# ## Run the lesson
#
# `main` profiles training on each pipeline, each in a run of its own. Then it prints the measured shares and the
# command that shows the profiles.


def make_parser():
    return plumbing.make_parser("Profile training with a naive and an optimized input pipeline.", epochs=2)


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    print(f"Training runs on the {device}.")

    # Both pipelines feed the same model the same data; only the way the batches are made differs.
    pipelines = {
        "naive": naive_train_pipeline(dataset, args.batch_size),
        "optimized": starter.train_pipeline(dataset, args.batch_size),
    }
    shares = {}
    for name, batches in pipelines.items():
        print(f"\nThe {name} pipeline:")
        shares[name], counted_steps = train_and_profile(batches, dataset, args, run_dir / name)
    print_shares(shares, counted_steps, device)
    plumbing.print_view_command(run_dir, "Profile")
    print("In the Profile tab, pick a run (naive or optimized), then the Overview page, the Input pipeline analyzer")
    print("or the Trace viewer in the Tools menu.")


if __name__ == "__main__":
    ctrl_c.run(main)
