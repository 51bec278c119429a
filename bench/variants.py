"""What a paired round runs: the starter's CNN trained fed four ways (batches already in memory, the starter's
pipeline, the same without XLA, the video's), its train step compiled with XLA, each pipeline read alone, the test
split evaluated, and each kind of TensorBoard logging.

`make_variants` returns each as a function that runs it once; rounds.py times them in turns.
"""

import functools
import itertools
import types

import keras
import tensorflow as tf

import starter
import utils

from pipelines import PIPELINES, STARTER_WITHOUT_XLA, read_through, with_autotune_off


def make_loop(dataset):
    """The starter's CNN with Adam, its compiled train and test steps, and the same train step compiled with XLA.

    The XLA step is the starter's own train step (`python_function` is the Python code `tf.function` traced),
    compiled with `jit_compile=True`: same model, same optimizer, same metrics, so only the compiler differs.
    """
    model = starter.build_cnn(dataset.image_shape, len(dataset.class_names))
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    steps = starter.make_steps(model, optimizer)
    xla_train_step = tf.function(
        steps.train_step.python_function, input_signature=starter.batch_signature(model), jit_compile=True
    )
    return types.SimpleNamespace(
        model=model,
        optimizer=optimizer,
        train_step=steps.train_step,
        xla_train_step=xla_train_step,
        test_step=steps.test_step,
    )


def train_over(train_step, batches, on_batch=None):
    """Runs `train_step` over every batch, waits for the last step to finish; returns how many images it saw.

    `on_batch(loss)`, if given, runs after each step: that is where a custom loop writes its per-batch summary.
    """
    seen, loss = 0, None
    for images, labels in batches:
        loss = train_step(images, labels)
        if on_batch is not None:
            on_batch(loss)
        seen += int(labels.shape[0])
    float(loss)
    return seen


def batches_per_epoch(num_examples, batch_size):
    return -(-num_examples // batch_size)


def start_iterators(dataset, batch_size):
    """({name: the pipeline to read alone}, {name: one iterator for the whole run, to train from}).

    Each training iterator runs over `.repeat()` and its cache is filled by an untimed epoch. Slices taken from a
    long-lived iterator cost what the same images cost inside an epoch: a fresh iterator per slice would refill
    the 10,000-image shuffle buffer every time, which an epoch does once.
    """

    def long_lived(pipeline, num_examples):
        iterator = iter(pipeline.repeat())
        read_through(itertools.islice(iterator, batches_per_epoch(num_examples, batch_size)))
        return iterator

    pipelines_alone, iterators = {}, {}
    for name, make_pipeline in PIPELINES.items():
        pipeline = make_pipeline(dataset, batch_size)
        iterators[name] = long_lived(pipeline, dataset.num_train)
        pipelines_alone[name] = with_autotune_off(pipeline)
    iterators["starter_without_xla"] = long_lived(STARTER_WITHOUT_XLA(dataset, batch_size), dataset.num_train)
    iterators["test"] = long_lived(starter.test_pipeline(dataset, batch_size), dataset.num_test)
    return pipelines_alone, iterators


def make_variants(dataset, loop, pipelines_alone, iterators, sizes, writers):
    """({name: a function that runs one variant once, returns how many images it handled (None: one summary)},
    {name: the untimed warm-up that runs right before it, for the variants that train}).

    Every variant trains the same model; since its weights change from slice to slice, whichever way it is fed,
    no variant gets an easier model than another. A training slice starts with a few untimed batches, meant to
    bring its timed batches closer to how they run inside an epoch: they use up batches its pipeline read ahead
    while other variants ran, and give the previous variant's pipeline time to finish refilling its buffers.
    (How much that changes the figures was not measured: the rounds' spread hides it.)
    """
    # The limit: batches already augmented and held in memory, so the step never waits for input.
    in_memory = list(itertools.islice(iterators["starter"], sizes.train_batches))

    def next_slice(name, count):
        return itertools.islice(iterators[name], count)

    def fed_by(name):
        """Training on `count` batches from the long-lived iterator `name`."""
        return lambda count: train_over(loop.train_step, next_slice(name, count))

    def scalar_per_batch(loss):
        # 02's way: the loss of every batch at a global step.
        with writers["scalars_per_batch"].as_default():
            tf.summary.scalar("batch_loss", loss, step=loop.optimizer.iterations)

    evaluated = {}

    def evaluate():
        evaluated["labels"], evaluated["probabilities"] = starter.evaluate(
            loop.test_step, next_slice("test", sizes.test_batches)
        )
        return len(evaluated["labels"])

    epochs = itertools.count()

    def histograms():
        with writers["histograms_per_epoch"].as_default():
            step = next(epochs)
            for weight in loop.model.weights:
                tf.summary.histogram(weight.path, weight, step=step)
        writers["histograms_per_epoch"].flush()

    def confusion_matrix():
        # 04's way: count, plot, render and log the matrix of the held-out images the round evaluated.
        predicted = evaluated["probabilities"].argmax(axis=1)
        counts = utils.get_confusion_matrix(evaluated["labels"], predicted, len(dataset.class_names))
        figure = utils.plot_confusion_matrix(counts, dataset.class_names)
        with writers["confusion_matrix_per_epoch"].as_default():
            tf.summary.image("confusion_matrix", utils.plot_to_image(figure), step=next(epochs))
        writers["confusion_matrix_per_epoch"].flush()

    def scalars(count):
        seen = train_over(loop.train_step, next_slice("starter", count), scalar_per_batch)
        writers["scalars_per_batch"].flush()
        return seen

    # The variants that train, each on `count` batches: timed on a slice, and untimed on a few as its warm-up.
    training = {
        "compute_only": lambda count: train_over(loop.train_step, in_memory[:count]),
        "xla": lambda count: train_over(loop.xla_train_step, in_memory[:count]),
        "starter": fed_by("starter"),
        "video": fed_by("video"),
        "scalars_per_batch": scalars,
        "starter_without_xla": fed_by("starter_without_xla"),
    }
    warm_ups = {name: functools.partial(train, sizes.warm_up_batches) for name, train in training.items()}
    slices = {name: functools.partial(train, sizes.train_batches) for name, train in training.items()}
    # round_order shuffles the variants in this dict's order, with a fixed seed a round: reordering it (or adding
    # a variant) changes every round's order.
    variants = {
        "compute_only": slices["compute_only"],
        "xla": slices["xla"],
        "starter": slices["starter"],
        "video": slices["video"],
        # Alone, a pipeline has the cores to itself; feeding the model, on a CPU, it shares them with the step.
        # A whole epoch from a fresh iterator (its cache is filled): read from the long-lived iterators, whose
        # prefetch buffers autotune grows and then fills between slices, it would be read ahead of time, and
        # refill while the next variant trains.
        "starter_alone": lambda: read_through(pipelines_alone["starter"]),
        "video_alone": lambda: read_through(pipelines_alone["video"]),
        "scalars_per_batch": slices["scalars_per_batch"],
        "evaluate": evaluate,
        "histograms_per_epoch": histograms,
        # The confusion matrix comes right after "evaluate" in every round (see rounds.round_order).
        "confusion_matrix_per_epoch": confusion_matrix,
        "starter_without_xla": slices["starter_without_xla"],
    }
    return variants, warm_ups
