"""The export benchmark's logdir: `runs` runs x `tags` scalar tags x `steps` steps, written with `tf.summary.scalar`.

Each run is a TF2 event file as a training loop writes it (one tensor event per point, the scalars plugin's
metadata on each tag's first event). The values are a seeded noisy decay, so a run of the generator with the same
sizes writes the same values (the wall times differ). A finished logdir holds a `DONE` file with its sizes, so a
second benchmark run reuses it instead of writing it again.
"""

import json
from pathlib import Path

import numpy as np

TAGS = ("loss", "accuracy", "learning_rate", "grad_norm")


def tag_names(tags):
    """The names of `tags` scalar tags: TAGS, then numbered ones after them."""
    return [TAGS[index % len(TAGS)] + ("" if index < len(TAGS) else f"_{index}") for index in range(tags)]


def values_of(run, tags, steps):
    """The values of one run: a float32 array of shape (steps, tags), the same for the same arguments."""
    generator = np.random.default_rng(run)
    decay = np.exp(-np.arange(steps) / (steps / 4))[:, None]
    noise = generator.normal(0.0, 0.05, size=(steps, tags))
    return (decay * (1.0 + run / 10) + noise).astype(np.float32)


def write_logdir(logdir, runs, tags, steps):
    """Writes the logdir (unless a finished one with the same sizes is there); returns the number of points."""
    logdir = Path(logdir)
    sizes = {"runs": runs, "tags": tags, "steps": steps}
    done = logdir / "DONE"
    if done.exists() and json.loads(done.read_text()) == sizes:
        return runs * tags * steps
    if logdir.exists() and any(logdir.iterdir()):
        raise SystemExit(f"error: {logdir} holds files but no finished logdir of these sizes: give an empty one")
    import tensorflow as tf

    names = tag_names(tags)
    for run in range(runs):
        # A new tf.function per run (a traced graph keeps the writer it was traced with): one graph writes the run,
        # where a Python loop of 100,000 eager calls would take minutes.
        @tf.function
        def write_run(values):
            for step in tf.range(tf.shape(values, out_type=tf.int64)[0]):
                # "/" is the root name scope: the tags are named as in an eager loop, not "while/loss".
                with tf.name_scope("/"):
                    for index, tag in enumerate(names):
                        tf.summary.scalar(tag, values[step, index], step=step)

        writer = tf.summary.create_file_writer(str(logdir / f"run_{run:02d}"), max_queue=10_000)
        with writer.as_default():
            write_run(tf.constant(values_of(run, tags, steps)))
        writer.close()
    done.write_text(json.dumps(sizes))
    return runs * tags * steps


if __name__ == "__main__":
    import sys

    print(write_logdir(sys.argv[1], *map(int, sys.argv[2:5])))
