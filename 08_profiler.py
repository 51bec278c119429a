"""
Title: The Profiler: find out whether training waits for its input
Description: Profile a custom training loop fed by a naive and by an optimized tf.data pipeline, and compare.

TensorBoard tab: Profile. Pick a run (`<date-time>/naive/...` or `<date-time>/optimized/...`) and a tool.
The Overview page's Performance Summary splits the average step time into Input, Host compute and "All others"
(Python and whatever else no TensorFlow op accounts for); online it also draws a step-time graph and a verdict.
The Input pipeline analyzer shows the same verdict, offline too. What the verdict means (thresholds of the
profiler's own code):
  "HIGHLY input-bound because X% ... waiting for input": 20% or more of the step time waits for input;
  "MODERATELY input-bound because X% ...": 5% to 20%;
  "POTENTIALLY input-bound because X% ... 'All Others' time": less than 5% waits for input, but 3% or more of
      the step time is "All others", which the profiler cannot put on any TensorFlow op; in this loop that is
      Python's own time (calling the step, the Python side of next()), not the input pipeline. The optimized run
      often gets this verdict: it does not say that the run still waits for input;
  "NOT input-bound because only X% ...": less than 5% input and less than 3% "All others".
The Trace viewer shows the timeline of every profiled step. The page draws its graphs and tables with Google
Charts, loaded from the internet: offline the step-time graph and the Input pipeline analyzer's time per
tf.data stage are not drawn (the analyzer then says "Host side analysis can not be done without
instrumentation", although the profile holds that breakdown).
The script prints the share of step time it measured waiting for input, over the same steps as the Overview
page (which leaves out the first and the last profiled step); the profiled steps come after one epoch of
warm-up, when the optimized pipeline's cache is full.
Run it:   python 08_profiler.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/08_profiler
Time on a 2-core CPU: about 16 s with --quick (19 s by default on digits); about
10 minutes with CIFAR-10 (2 epochs per pipeline; estimated at 117 s an epoch, see the README).
"""

# ctrl_c first, before TensorFlow: run as a script, a Ctrl-C during TensorFlow's slow import is then a
# clean stop too, and TensorFlow's INFO lines stay off the terminal (see ctrl_c.py).
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


def profile_plan(steps_per_epoch, epochs, profiled=PROFILED_STEPS):
    """Which steps to profile, which of them the Overview page counts, and how many epochs to train.

    The profiled steps follow a warm-up of one whole epoch (at least MIN_WARM_UP_STEPS steps), so the optimized
    pipeline's cache is full and the training step is traced. When the epochs asked for hold too few steps
    (with --quick, or a large --batch-size), training runs more epochs rather than profiling fewer steps: a
    step-time graph of one or two steps says nothing.

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


def train_and_profile(batches, dataset, args, profile_dir):
    """Trains a fresh CNN on `batches`, profiling a few steps into `profile_dir`.

    Returns:
        (share, counted_steps): the share of step time spent waiting for the next batch over the steps the
        Overview page counts, as measured here (the sum of the waits over the sum of the step times, as the
        profiler computes its own), and those steps.
    """
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    train_step = starter.make_steps(model, keras.optimizers.Adam(learning_rate=1e-3)).train_step
    steps_per_epoch = len(batches)
    profiled_steps, counted_steps, epochs = profile_plan(steps_per_epoch, args.epochs)
    if epochs > args.epochs:
        print(f"An epoch has {steps_per_epoch} batch(es): training {epochs} epochs to have enough steps to profile.")
    print(
        f"Profiling steps {profiled_steps.start} to {profiled_steps.stop - 1} of {epochs * steps_per_epoch}, "
        "after a warm-up epoch."
    )
    # An explicit iterator, so that fetching each batch can happen inside that step's Trace below.
    iterator = iter(batches.repeat(epochs))
    # The bar shows each step's own loss (a "stateful" metric, shown as given): 08 logs no loss to compare it with,
    # and an average over epochs would be neither an epoch's mean nor the step's value.
    progress = keras.utils.Progbar(epochs * steps_per_epoch, stateful_metrics=("loss",))
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
            if step in counted_steps:
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
    return waiting / total, counted_steps


def make_parser():
    parser = plumbing.make_parser("Profile training with a naive and an optimized input pipeline.", epochs=2)
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    dataset = starter.load_dataset(args.dataset, quick=args.quick)
    plumbing.note_large_batch(args.batch_size, dataset.num_train)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    print(f"Training runs on the {device}.")

    # Both pipelines feed the same model the same data; only the way the batches are made differs.
    pipelines = {
        # One image at a time, no cache, no parallel work, no prefetch: the model waits for every batch.
        "naive": naive_train_pipeline(dataset, args.batch_size),
        # Cache, augment whole batches in parallel (compiled with XLA), prefetch: the next batch is ready before
        # it is asked for.
        "optimized": starter.train_pipeline(dataset, args.batch_size),
    }
    shares = {}
    for name, batches in pipelines.items():
        print(f"\nThe {name} pipeline:")
        # The profiler writes <run_dir>/<name>/plugins/profile/<time>/<host>.xplane.pb: the Profile tab lists
        # it as the run <run_dir name>/<name>/<time>.
        shares[name], counted_steps = train_and_profile(batches, dataset, args, run_dir / name)

    print(
        f"\nWaiting for input, as a share of step time on the {device}, measured by this script over steps "
        f"{counted_steps.start} to {counted_steps.stop - 1}\n(the steps the Overview page counts: all profiled "
        "steps but the first and the last):"
    )
    for name, share in shares.items():
        print(f"  {name:>9}: {share:.1%}")
    print(
        "The profiler's own figure for these steps is a little lower: its Input Time (Overview page) over its step\n"
        "time (Input pipeline analyzer), with the Python side of next() counted as 'All Others'. A 'POTENTIALLY\n"
        "input-bound' verdict is about that 'All Others' time (Python's, in this loop), not about waiting for input.\n"
        "The verdict's thresholds (20% and 5%) apply to the profiler's figure, not to the ones above."
    )
    plumbing.print_view_command(
        run_dir, "Profile (choose a run, then Overview, Input pipeline analyzer or Trace viewer)"
    )


if __name__ == "__main__":
    ctrl_c.run(main)
