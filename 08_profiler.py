"""
Title: The Profiler: find out whether training waits for its input
Description: Profile training with a naive and an optimized tf.data pipeline, and compare the two.

TensorBoard tab: Profile (pick the run `naive/train` or `optimized/train` and the tool): Overview page
(the step-time graph and how much of it is "Input"), Input pipeline analyzer (where input time goes),
Trace viewer (the timeline of each profiled step). The script also prints, for each pipeline, the share
of step time spent waiting for input that it measured itself, so you see the effect before opening the tab.
Run it:   python 08_profiler.py              (or --quick for a smoke test)
View it:  tensorboard --logdir logs/08_profiler
Time on a 2-core CPU: about 20 s with --quick; a few minutes with CIFAR-10.
"""

import time

import keras

import plumbing
import starter

# The first batches of a run include tracing and warm-up, which would hide the steady state.
MAX_PROFILE_START = 10
PROFILED_BATCHES = 10
MEASURED_STEPS = 50


def profile_range(steps):
    """The (first, last) batch to profile: past the warm-up, within the first epoch."""
    start = max(2, min(MAX_PROFILE_START, steps // 3))
    return start, min(steps, start + PROFILED_BATCHES)


def input_wait_share(model, batches):
    """The share of step time spent waiting for the next batch, measured around a custom training step.

    Keras compiles the fetch of the next batch into its train function, so the wait is measured here with
    the starter's step instead: the time `next()` takes, over the time of the whole step.
    """
    train_step = starter.make_train_step(model, keras.optimizers.Adam(learning_rate=1e-3), *starter.epoch_metrics())
    # Repeating lets a short (--quick) epoch still give MEASURED_STEPS steps, epoch boundaries included.
    iterator = iter(batches.repeat())
    # The first step traces the function; leave it out of the measurement.
    train_step(*next(iterator))
    waiting = total = 0.0
    for _ in range(MEASURED_STEPS):
        started = time.perf_counter()
        images, labels = next(iterator)
        fetched = time.perf_counter()
        float(train_step(images, labels))  # float() waits until the step has really finished.
        waiting += fetched - started
        total += time.perf_counter() - started
    return waiting / total


def profile_pipeline(name, batches, dataset, args, run_dir):
    """Trains a fresh model on `batches` with the profiler on; returns the measured input-wait share."""
    model = starter.compiled_cnn(dataset)
    profile_batches = profile_range(starter.steps_per_epoch(dataset, args.batch_size))
    # profile_batch=(first, last) profiles those batches; the trace lands in <log_dir>/train/plugins/profile.
    tensorboard_callback = keras.callbacks.TensorBoard(log_dir=str(run_dir / name), profile_batch=profile_batches)
    print(f"Training with the {name} pipeline, profiling batches {profile_batches[0]} to {profile_batches[1]}")
    model.fit(batches, epochs=args.epochs, callbacks=[tensorboard_callback], verbose=2)
    return input_wait_share(model, batches)


def main():
    parser = plumbing.make_parser("Profile training with a naive and an optimized input pipeline.", epochs=2)
    args = plumbing.parse_args(parser)
    device = plumbing.configure_gpu()
    dataset = plumbing.load_from_args(args)
    run_dir = plumbing.new_run_dir(args.logdir, __file__)
    print(f"Training runs on the {device}.")

    # naive: one image at a time, no cache, no parallel map, no prefetch.
    # optimized: cache, parallel map on whole batches, prefetch (starter.train_pipeline).
    shares = {
        "naive": profile_pipeline(
            "naive", starter.naive_train_pipeline(dataset, args.batch_size), dataset, args, run_dir
        ),
        "optimized": profile_pipeline(
            "optimized", starter.train_pipeline(dataset, args.batch_size), dataset, args, run_dir
        ),
    }
    print(f"\nShare of step time spent waiting for input (measured on the {device}):")
    for name, share in shares.items():
        print(f"  {name:>9}: {share:.1%}")
    plumbing.print_view_command(
        run_dir, "Profile (choose a run, then Overview, Input pipeline analyzer or Trace viewer)"
    )


if __name__ == "__main__":
    plumbing.run(main)
