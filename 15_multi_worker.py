"""
Title: Training on several workers: chief-only summaries, and a profile from the chief
Description: `MultiWorkerMirroredStrategy` over local processes; the chief logs, and profiles itself or every worker.

TensorBoard tabs: Scalars (the chief's curves), Profile (the chief's host; with --profile-all-workers, one per worker).
Run it:   python 15_multi_worker.py --workers 2     (or --quick for a smoke test)
View it:  tensorboard --logdir logs/15_multi_worker/<run>     (the script prints this run's directory)
"""

# ctrl_c first, before TensorFlow: a Ctrl-C during its slow import stops cleanly, its INFO lines stay off (ctrl_c.py).
import ctrl_c

import dataclasses
import json
import os
import pathlib
import threading
import time

import keras
import tensorflow as tf

import launcher
import plumbing
import starter

LESSON = "15_multi_worker"  # its logs go to <logdir>/15_multi_worker/

# The profile covers a few seconds of training that start after this many steps: the first ones trace the step.
PROFILE_AFTER_STEPS = 2
PROFILE_MILLISECONDS = 3000
# How much longer than PROFILE_MILLISECONDS the workers wait for the chief's capture to end before going on.
CAPTURE_MARGIN_SECONDS = 60
# How long the chief lets the workers' profilers start before training on: the capture is one request per worker.
PROFILER_START_SECONDS = 1.0
# While the chief's capture runs on after training, the workers exchange a number this often: see
# `wait_for_the_capture`.
HEARTBEAT_SECONDS = 0.05
# The port every worker's profiler listens on when TF_CONFIG comes from you (several machines).
DEFAULT_PROFILER_PORT = 6009
# The local run as a whole must end within this time, or every process is stopped.
LOCAL_RUN_TIMEOUT_SECONDS = 4 * 60 * 60
ACROSS_MACHINES = f"""
On several machines: give each the same cluster in TF_CONFIG and its own index (0 is the chief, which logs),
then run the same command on each, machine 0 first:
  TF_CONFIG='{{"cluster": {{"worker": ["host0:12345", "host1:12345"]}}, "task": {{"type": "worker", "index": 0}}}}' \\
      python 15_multi_worker.py
and on host1 the same with "index": 1. Every worker's profiler then listens on port {DEFAULT_PROFILER_PORT}
(or where --profiler-addresses host0:port,host1:port says)."""

# ## Starting the workers
#
# `MultiWorkerMirroredStrategy` trains one model on several machines: each worker holds a copy of the model,
# trains on its share of every batch, and the workers add up their gradients before every update (an
# all-reduce), so that every copy stays the same. Each worker learns who it is and where the others are from the
# `TF_CONFIG` environment variable: the list of every worker's `host:port`, and its own index in that list.
# Worker 0 is the chief. Here the "machines" are processes on this one, on free localhost ports; launcher.py
# starts them (`launcher.LocalProcesses`) and stops them all on Ctrl-C, on a closed terminal or if one fails.


def tf_config(worker_addresses, index):
    """The TF_CONFIG of worker `index`: the whole cluster, and which worker this one is."""
    return json.dumps({"cluster": {"worker": worker_addresses}, "task": {"type": "worker", "index": index}})


def launch_local_workers(args):
    """Starts `--workers` processes of this script on this machine, one TF_CONFIG each, and waits for them."""
    run_dir = plumbing.new_run_dir(args.logdir, LESSON)
    ports = launcher.free_ports(2 * args.workers)
    workers = [f"{launcher.LOCALHOST}:{port}" for port in ports[: args.workers]]
    profilers = [f"{launcher.LOCALHOST}:{port}" for port in ports[args.workers :]]
    argv = [*launcher.shared_flags(args), "--run-dir", str(run_dir), "--profiler-addresses", ",".join(profilers)]
    argv += ["--profile-all-workers"] if args.profile_all_workers else []
    print(f"Starting {args.workers} workers on {', '.join(workers)}; worker 0, the chief, shows its lines here.")
    print(f"To profile them by hand while they train: Profile tab, CAPTURE PROFILE, paste {','.join(profilers)}")
    launcher.print_open_ports(ports, "the workers' servers and profilers")
    # A known TensorFlow 2.21 bug at times kills a worker as the chief's capture of it ends: say so if it happens.
    known_crash = 'A known TensorFlow bug as a profile ends (docs/limitations.md, "Profiling several workers"): rerun.'
    known_crash = known_crash if args.profile_all_workers else ""
    with launcher.LocalProcesses(LESSON, run_dir, if_killed=known_crash) as processes:
        for index in range(args.workers):
            environment = {"TF_CONFIG": tf_config(workers, index)}
            processes.start(f"worker {index}", argv, environment, show=index == 0)
        processes.wait(timeout=LOCAL_RUN_TIMEOUT_SECONDS)
    return run_dir


# ## The data: every worker reads its own share
#
# Each worker builds the starter's pipeline from its own shard of the training data, in batches of
# `--batch-size`: one global step trains on `--batch-size` times the number of workers. The workers must take
# the same number of steps (each step waits for all of them), so each shard holds the same number of images and
# the pipeline repeats. Every batch is full: an epoch leaves out each worker's last images that do not fill a
# batch (others every epoch, as the shard is shuffled), and the few images that do not divide evenly among the
# workers. A short batch would count for as much as a full one in the step's mean.


def worker_batches(strategy, dataset, batch_size, verbose=False):
    """The distributed training data in full batches of `batch_size` per worker (at most a worker's share), how many
    steps make an epoch, and that batch size; `verbose`: says how many images an epoch trains."""
    workers = strategy.num_replicas_in_sync
    shard_size = dataset.num_train // workers
    # A batch larger than a worker's share is the whole share: one step per epoch (the note says so).
    noted = verbose and plumbing.note_large_batch(batch_size, shard_size)
    batch_size = min(batch_size, shard_size)
    steps_per_epoch = shard_size // batch_size
    if verbose and not noted:
        trained = steps_per_epoch * batch_size * workers
        print(
            f"Each epoch trains {workers} workers x {steps_per_epoch} batches of {batch_size}: {trained:,} of the "
            f"{dataset.num_train:,} training images, every batch full."
        )

    def shard_pipeline(input_context):
        shard = dataset.train.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        share = dataclasses.replace(dataset, train=shard.take(shard_size), num_train=shard_size)
        return starter.train_pipeline(share, batch_size, drop_remainder=True).repeat()

    return strategy.distribute_datasets_from_function(shard_pipeline), steps_per_epoch, batch_size


# ## The training step under the strategy
#
# Keras 3's `model.fit` fails under this strategy (keras-team/keras#20585), so the loop is written out. The
# model and its optimizer are made inside `strategy.scope()`, so that their variables are mirrored on every
# worker. `strategy.run` runs the step on each worker's batch; `tf.nn.compute_average_loss` divides the loss by
# the GLOBAL batch size, so that the gradients the workers add up are those of the mean over the whole global
# batch. `strategy.reduce` then adds up the workers' losses, right answers and images, for the epoch's means.


def make_distributed_step(strategy, model, optimizer, global_batch_size):
    """A compiled step: trains every worker on its next batch; returns the sum of the global batch's losses, how
    many of its images were classified right, and how many images it held."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            losses = loss_fn(labels, logits)
            loss = tf.nn.compute_average_loss(losses, global_batch_size=global_batch_size)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == labels, tf.float32))
        return tf.reduce_sum(losses), correct, tf.cast(tf.size(labels), tf.float32)

    @tf.function
    def distributed_step(iterator):
        per_worker = strategy.run(replica_step, args=next(iterator))
        return tf.stack([strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in per_worker])

    return distributed_step


def epoch_means(sums):
    """The epoch's mean loss and accuracy over every image trained so far, from a step's sums added up."""
    return [("loss", float(sums[0] / sums[2])), ("accuracy", float(sums[1] / sums[2]))]


# ## Only the chief writes summaries
#
# Every worker runs the same loop, so every worker would log the same curves: the run would hold one set of
# event files per worker, drawn on top of each other. Only the chief gets a real writer; the others get
# `tf.summary.create_noop_writer()`, so the same `tf.summary.scalar` lines run everywhere and write once.


def summary_writer(is_chief, run_dir):
    """The chief's file writer into `<run_dir>/train`; on every other worker, a writer that writes nothing."""
    if is_chief:
        return tf.summary.create_file_writer(str(run_dir / "train"))
    return tf.summary.create_noop_writer()


# ## A profile of the chief
#
# Every step runs inside `tf.profiler.experimental.Trace("train", step_num=...)`: the step marker that the Profile
# tab's Overview page counts, and that its Trace viewer shows as `train <step>` on every worker's timeline. Each
# worker starts its own profiler server, and the chief captures a few seconds with
# `tf.profiler.experimental.client.trace`, given profiler addresses: its own, or with `--profile-all-workers`
# every worker's, at once (one profile run in the Profile tab, with one host per worker). The chief alone is the
# default because TensorFlow 2.21 at times crashes a worker that another process captures (docs/limitations.md,
# "Profiling several workers"); the Profile tab's CAPTURE PROFILE dialog can still capture every worker by hand.


def capture_profile(service_addresses, run_dir, failures):
    """Captures the profilers at `service_addresses` for PROFILE_MILLISECONDS into `run_dir`; an exception it
    raises is kept in `failures`, for the chief to report."""
    try:
        tf.profiler.experimental.client.trace(
            service_addresses, str(run_dir), PROFILE_MILLISECONDS, num_tracing_attempts=1
        )
    except Exception as error:
        failures.append(error)


def start_profile(is_chief, profiler_addresses, run_dir, all_workers=False):
    """On the chief, starts capturing its own profiler (`all_workers`: every worker's) in the background: returns
    the thread, with `failures` (None on the other workers)."""
    capture = None
    if is_chief:
        captured = profiler_addresses if all_workers else profiler_addresses[:1]
        # On a line of its own, after the progress bar's: TensorFlow then prints that it starts to trace.
        print(f"\nProfiling {'every worker' if all_workers else 'the chief'} for {PROFILE_MILLISECONDS / 1000:g} s")
        service_addresses = ",".join(f"grpc://{address}" for address in captured)
        failures = []
        # A daemon: a capture that never ends must not keep the chief from ending (see wait_for_the_capture).
        capture = threading.Thread(target=capture_profile, args=(service_addresses, run_dir, failures), daemon=True)
        capture.failures = failures
        capture.start()
        # The capture is one request to each worker; let them start before the steps to profile run.
        time.sleep(PROFILER_START_SECONDS)
    return capture


# ## The training loop
#
# Every worker runs it; the chief's writer logs each epoch's means, and the chief's profile starts after the
# first steps (they trace the step), or at the last step of a shorter run.


def train_epochs(args, strategy, is_chief, run_dir, profiler_addresses):
    """Trains the starter's CNN for --epochs; the chief logs each epoch's means and starts the profile."""
    dataset = starter.load_dataset(args.dataset, quick=args.quick, verbose=is_chief)
    batches, steps_per_epoch, batch_size = worker_batches(strategy, dataset, args.batch_size, verbose=is_chief)
    with strategy.scope():
        model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    distributed_step = make_distributed_step(strategy, model, optimizer, batch_size * strategy.num_replicas_in_sync)
    writer = summary_writer(is_chief, run_dir)
    profile_step, capture = min(PROFILE_AFTER_STEPS, args.epochs * steps_per_epoch - 1), None
    iterator, step = iter(batches), 0
    try:
        for epoch in range(args.epochs):
            print(f"Epoch {epoch + 1}/{args.epochs}")
            progress, sums = starter.epoch_progbar(steps_per_epoch), tf.zeros(3)
            for _ in range(steps_per_epoch):
                if step == profile_step:
                    capture = start_profile(is_chief, profiler_addresses, run_dir, args.profile_all_workers)
                # `_r=1` makes it a step of the Overview page's step-time graph, as in 08.
                with tf.profiler.experimental.Trace("train", step_num=step, _r=1):
                    sums += distributed_step(iterator)
                step += 1
                progress.add(1, values=epoch_means(sums))
            with writer.as_default():
                for name, value in epoch_means(sums):
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch)
    finally:
        writer.close()
    return model, dataset, capture


# ## After training
#
# The workers end together, once the chief's capture is over: a worker that had already ended would be missing
# from the profile. Until then they keep exchanging a number (an all-reduce), which tells them whether the
# capture still runs; the chief says in one line if it failed or did not end in time. The chief then measures
# the model once on the held-out test split.


@tf.function
def all_reduce_sum(strategy, value):
    """The sum of every worker's `value`; returns once every worker has called it."""
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.identity(value)), axis=None)


def wait_for_the_capture(strategy, capture):
    """Every worker returns once the chief's capture (`capture` on the chief, None on the others) has ended, or
    CAPTURE_MARGIN_SECONDS after it should have; the chief then says if it failed or still runs."""
    deadline = time.monotonic() + PROFILE_MILLISECONDS / 1000 + CAPTURE_MARGIN_SECONDS

    def capturing():
        return capture is not None and capture.is_alive() and time.monotonic() < deadline

    while float(all_reduce_sum(strategy, tf.constant(float(capturing())))) > 0:
        time.sleep(HEARTBEAT_SECONDS)
    if capture is not None and capture.is_alive():
        waited = PROFILE_MILLISECONDS / 1000 + CAPTURE_MARGIN_SECONDS
        print(f"The profile capture did not end within {waited:.0f} s; the run goes on without it.")
    elif capture is not None and capture.failures:
        message = str(capture.failures[0]).strip().splitlines() or [type(capture.failures[0]).__name__]
        print(f"The profile capture failed: {message[0]}")


def accuracy_on_test_split(model, dataset, batch_size):
    """The share of the test split that `model` classifies right."""
    correct = total = 0
    for images, labels in starter.test_pipeline(dataset, batch_size):
        predictions = tf.argmax(model(images, training=False), axis=1)
        correct += int(tf.reduce_sum(tf.cast(predictions == labels, tf.int32)))
        total += int(tf.size(labels))
    return correct / total


def train_as_worker(args):
    """What every worker runs, on this machine or on several (TF_CONFIG says which worker this is)."""
    # Made first: the strategy connects this process to the others before TensorFlow runs any op.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    index = strategy.cluster_resolver.task_id
    is_chief = index == 0
    workers = strategy.cluster_resolver.cluster_spec().as_dict()["worker"]
    profiler_addresses = args.profiler_addresses or [
        f"{address.rsplit(':', 1)[0]}:{DEFAULT_PROFILER_PORT}" for address in workers
    ]
    # Every worker's profiler listens on its own port, for the chief's capture (or the Profile tab's dialog).
    tf.profiler.experimental.server.start(int(profiler_addresses[index].rsplit(":", 1)[1]))
    run_dir = (args.run_dir or plumbing.new_run_dir(args.logdir, LESSON)) if is_chief else None
    model, dataset, capture = train_epochs(args, strategy, is_chief, run_dir, profiler_addresses)
    wait_for_the_capture(strategy, capture)
    if is_chief:
        print(f"Test accuracy of the trained model: {accuracy_on_test_split(model, dataset, args.batch_size):.4f}")
    return run_dir


# ## Run the lesson


def make_parser():
    parser = plumbing.make_parser("Train on several workers with MultiWorkerMirroredStrategy; profile the chief.")
    parser.add_argument("--workers", type=plumbing.positive_int, default=2, help="worker processes (default: 2)")
    parser.add_argument(
        "--profiler-addresses",
        type=lambda text: text.split(","),
        help=f"every worker's profiler, host:port,host:port (default: each worker's host, {DEFAULT_PROFILER_PORT})",
    )
    parser.add_argument(
        "--profile-all-workers",
        action="store_true",
        help="the chief captures every worker's profile, not only its own (known to crash workers at times)",
    )
    parser.add_argument(
        "--run-dir", type=pathlib.Path, help="the run directory the chief writes into (default: a new one)"
    )
    return parser


def main(argv=None):
    args = plumbing.start(make_parser(), argv)
    if "TF_CONFIG" in os.environ:
        run_dir = train_as_worker(args)
        # A chief started by the launcher leaves the last lines to the launcher.
        if run_dir is None or args.run_dir is not None:
            return
    else:
        run_dir = launch_local_workers(args)
        print(ACROSS_MACHINES)
    plumbing.print_view_command(run_dir, "Scalars and Profile", whole_curve_note=True)


if __name__ == "__main__":
    ctrl_c.run(main)
