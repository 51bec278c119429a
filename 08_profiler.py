"""
Title: The Profiler: find out whether training waits for its input
Description: Profile a custom training loop fed by a naive and by an optimized tf.data pipeline, and compare.

TensorBoard tab: Profile. Pick a run (`<date-time>/naive/...` or `<date-time>/optimized/...`) and a tool:
the Overview page shows the step-time graph, how much of each step is "Input", and a verdict such as
"Your program is MODERATELY input-bound"; the Input pipeline analyzer shows where the input time goes
(which tf.data stage is slow); the Trace viewer shows the timeline of every profiled step. The tab draws
its graphs with Google Charts, loaded from the internet: offline, the Overview page shows the numbers only.
The script also prints the share of step time it measured waiting for input, next to what the profile shows.
Run it:   python 08_profiler.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/08_profiler
Time on a 2-core CPU: about 13 s with --quick (the same by default on digits); about
15 minutes with CIFAR-10 (2 epochs per pipeline; estimated at bench/RESULTS.md's rate).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too.
import ctrl_c

import time

import keras
import tensorflow as tf

import plumbing
import starter

LESSON = "08_profiler"  # its logs go to <logdir>/08_profiler/

# The first steps trace the training step into a graph and fill the pipeline's buffers: a profile of
# them would show start-up costs, not the steady state the lesson is about.
WARM_UP_STEPS = 3
# Enough steps for the Overview page's step-time graph and a steady average, few enough to stay quick.
PROFILED_STEPS = 16


def naive_train_pipeline(dataset, batch_size):
    """The same training data the slow way: one image at a time, no cache, no parallelism, no prefetch."""
    augment = starter.make_augment(dataset.channels, dataset.flip)
    # TensorFlow 2.x quietly optimizes every pipeline: it injects a prefetch at the end, fuses a map followed
    # by a batch into one parallel step, and autotunes buffer sizes. That is why a "naive" pipeline is often
    # faster than a learner expects; here those optimizations are switched off, so that naive means naive.
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


def profile_plan(steps_per_epoch, epochs, warm_up=WARM_UP_STEPS, profiled=PROFILED_STEPS):
    """Which steps to profile, and how many epochs to train so that they all happen.

    The profiled steps come right after the warm-up, wherever the epochs begin and end: the naive
    pipeline's slow first batch of an epoch is part of what it costs. When the epochs asked for hold too few
    steps (an epoch of one or two batches, with --quick or a large --batch-size), training runs more epochs
    rather than profiling fewer steps: the Overview page leaves out the first and the last profiled step,
    and a step-time graph of one or two steps says nothing.

    Returns:
        (profiled_steps, epochs_to_train): a range of global step numbers (0 is the first step) and a
        number of epochs of at least `epochs`.
    """
    profiled_steps = range(warm_up, warm_up + profiled)
    epochs_needed = -(-profiled_steps.stop // steps_per_epoch)
    return profiled_steps, max(epochs, epochs_needed)


def train_and_profile(batches, dataset, args, profile_dir):
    """Trains a fresh CNN on `batches`, profiling a few steps into `profile_dir`.

    Returns:
        The share of the profiled steps' time spent waiting for the next batch, as measured here.
    """
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    train_step = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3)).train_step
    steps_per_epoch = len(batches)
    profiled_steps, epochs = profile_plan(steps_per_epoch, args.epochs)
    if epochs > args.epochs:
        print(f"An epoch has {steps_per_epoch} batch(es): training {epochs} epochs to have enough steps to profile.")
    print(f"Profiling steps {profiled_steps.start} to {profiled_steps.stop - 1} of {epochs * steps_per_epoch}.")
    # An explicit iterator, so that fetching each batch can happen inside that step's Trace below.
    iterator = iter(batches.repeat(epochs))
    progress = keras.utils.Progbar(epochs * steps_per_epoch)
    waiting = total = 0.0
    profiling = False
    try:
        for step in range(epochs * steps_per_epoch):
            if step == profiled_steps.start:
                tf.profiler.experimental.start(str(profile_dir))
                profiling = True
            started = time.perf_counter()
            # A Trace named "train" with the step's number is the step marker that the Overview page counts;
            # everything inside it, the wait for the next batch included, is that step's time.
            with tf.profiler.experimental.Trace("train", step_num=step, _r=1):
                images, labels = next(iterator)
                fetched = time.perf_counter()
                # float() waits until the step has really finished (on a GPU too), so all its work is inside.
                loss = float(train_step(images, labels))
            if step in profiled_steps:
                waiting += fetched - started
                total += time.perf_counter() - started
            if step == profiled_steps.stop - 1:
                tf.profiler.experimental.stop()
                profiling = False
            progress.add(1, values=[("loss", loss)])
    finally:
        # Stopping the profiler writes its profile: on Ctrl-C too, the steps profiled so far are kept.
        if profiling:
            tf.profiler.experimental.stop()
    return waiting / total


def make_parser():
    parser = plumbing.make_parser("Profile training with a naive and an optimized input pipeline.", epochs=2)
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    print(f"Training runs on the {device}.")

    # Both pipelines feed the same model the same data; only the way the batches are made differs.
    pipelines = {
        # One image at a time, no cache, no parallel work, no prefetch: the model waits for every batch.
        "naive": naive_train_pipeline(dataset, args.batch_size),
        # Cache, augment whole batches in parallel, prefetch: the next batch is ready before it is asked for.
        "optimized": starter.train_pipeline(dataset, args.batch_size),
    }
    shares = {}
    for name, batches in pipelines.items():
        print(f"\nThe {name} pipeline:")
        # The profiler writes <run_dir>/<name>/plugins/profile/<time>/<host>.xplane.pb: the Profile tab lists
        # it as the run <run_dir name>/<name>/<time>.
        shares[name] = train_and_profile(batches, dataset, args, run_dir / name)

    print(
        f"\nShare of step time spent waiting for input over the profiled steps, measured by this script on the {device}"
    )
    print("(the Overview page of each run shows the profiler's own figure for the same steps):")
    for name, share in shares.items():
        print(f"  {name:>9}: {share:.1%}")
    plumbing.print_view_command(
        run_dir, "Profile (choose a run, then Overview, Input pipeline analyzer or Trace viewer)"
    )


if __name__ == "__main__":
    ctrl_c.run(main)
