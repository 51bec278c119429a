"""
What every numbered script shares but no lesson teaches: the plumbing around the lessons.

- Flags: `make_parser` (`--dataset`, `--epochs`, `--batch-size`, `--logdir`, `--quick`), `parse_args`, and the
  argparse types `positive_int` and `positive_float`;
- run directories that are never reused (`new_run_dir`, `shared_run_dir`) and `print_view_command`, the
  `tensorboard --logdir ...` line every script ends with;
- the `auto` dataset choice: `resolve_dataset` (CIFAR-10 when it is cached or can be downloaded, else the
  offline `digits`, decided in seconds by `is_cached` and `can_connect`), `quick_subset` (what `--quick`
  trains on) and `load_from_args`;
- `start`, every script's first line: the flags, GPU memory growth and the dataset;
- one-line errors (`fail`), a Ctrl-C that keeps what was logged and never crashes (`run`, and the handler this
  module installs when it is imported by a script being run: import it before TensorFlow), and GPU memory
  growth (`configure_gpu`).

The video's own code (data, pipelines, CNN, training steps) is in starter.py; TensorBoard helpers are in utils.py.
"""

import argparse
import dataclasses
import datetime
import functools
import importlib.util
import logging
import math
import os
import signal
import socket
import sys
import threading
import urllib.parse
from pathlib import Path

DATASETS = ("auto", "cifar10", "mnist", "fashion_mnist", "digits")

# Where tensorflow_datasets downloads each dataset from. A quick connection to this host tells whether a
# download can work, because an offline `tfds.load` keeps retrying for minutes before it gives up.
DOWNLOAD_URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
CONNECT_TIMEOUT_SECONDS = 3.0

# `--quick` keeps this many examples of each split, so that a smoke test takes seconds.
QUICK_TRAIN_EXAMPLES = 1024
QUICK_TEST_EXAMPLES = 512


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def positive_int(text):
    """argparse type: an integer greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def positive_float(text):
    """argparse type: a finite number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, got {text}")
    return value


def make_parser(description, epochs=5, batch_size=64):
    """The flags every script shares; a script adds its own before parsing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="auto",
        help="auto: CIFAR-10 when it is cached or can be downloaded, else the offline digits",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"passes over the training data (default: {epochs}, or 1 with --quick)",
    )
    parser.set_defaults(default_epochs=epochs)
    parser.add_argument("--batch-size", type=positive_int, default=batch_size)
    parser.add_argument("--logdir", default="logs", help="root of all TensorBoard logs (default: logs)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny subset and one epoch: a smoke test that takes seconds",
    )
    return parser


def parse_args(parser, argv=None):
    """Parses the command line; `--quick` means one epoch unless `--epochs` is given too."""
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else args.default_epochs
    return args


def fail(message):
    """Ends the program with a one-line error on stderr and exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


# ---------------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------------

STOPPED_LINE = "Stopped by Ctrl-C: everything logged so far is kept."
EXIT_CTRL_C = 130  # what a shell reports for a program stopped by Ctrl-C (128 + SIGINT)

# How far the program is: "starting" (imports, before `run`), "main" (inside `run`), "stopping" (a Ctrl-C
# is unwinding `main`).
_ctrl_c_state = {"phase": "starting"}


def _stop_now():
    """Prints the one line and ends the process at once, without Python's shutdown.

    Python's shutdown frees TensorFlow's objects while TensorFlow's own threads (tf.data's prefetching,
    its thread pools) may still use them; that race is how a stopped run could end in "free(): invalid
    next size" or a segmentation fault instead of exit 130. `os._exit` skips it. Nothing is lost: the
    scripts close their summary writers in `finally` blocks, a writer's `as_default()` block flushes when
    it ends, and stdout and stderr are flushed here.
    """
    sys.stdout.flush()
    print(f"\n{STOPPED_LINE}", file=sys.stderr, flush=True)
    os._exit(EXIT_CTRL_C)


def _tensorflow_directories():
    """Where TensorFlow's own Python code is, found without importing TensorFlow (that takes seconds).

    Both the path Python reports for its files and the same path with links resolved. Only TensorFlow's package
    counts: Keras' training loop (keras/src/backend/tensorflow/...) is where a Ctrl-C during model.fit should
    land, between two batches.
    """
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return ()
    directory = spec.submodule_search_locations[0]
    return tuple({os.path.join(directory, ""), os.path.join(os.path.realpath(directory), "")})


_TENSORFLOW_DIRECTORIES = _tensorflow_directories()


@functools.cache
def _is_tensorflow_file(filename):
    return filename.startswith(_TENSORFLOW_DIRECTORIES)


def _inside_tensorflow(frame):
    """True when `frame` or one of its callers is TensorFlow's Python code."""
    while frame is not None:
        if _is_tensorflow_file(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False


def _interrupt_when_safe(frame, event, arg):
    """A trace function: raises KeyboardInterrupt at the first line that runs outside TensorFlow's code.

    A new frame called from inside TensorFlow (its tracing runs thousands of lines of autograph and the
    function being traced) gets no trace at all, so waiting for the safe point costs next to nothing.
    """
    if _inside_tensorflow(frame):
        return None if event == "call" else _interrupt_when_safe
    sys.settrace(None)
    raise KeyboardInterrupt


def _on_ctrl_c(signum, frame):
    """SIGINT handler: the first Ctrl-C inside `run` stops `main` at a safe point; any other stops at once.

    Python runs a signal handler in the main thread between two bytecodes, which may be in the middle of
    TensorFlow's Python code: tracing a tf.function, or handing a batch over. An exception there can leave
    TensorFlow half way (seen: a KeyboardInterrupt turned into a TypeError by TensorFlow's conversion code,
    and a segmentation fault). So the KeyboardInterrupt is raised only at a line outside TensorFlow's code:
    at once if the main thread is outside it, else, with a trace function, as soon as it comes back out
    (in model.fit: before the next batch). It then unwinds `main` through its `finally` blocks, which close
    the summary writers. Before `run` (the slow imports) nothing is logged yet, and a second Ctrl-C means
    "now": both end the process at once.
    """
    if _ctrl_c_state["phase"] != "main":
        _stop_now()
    _ctrl_c_state["phase"] = "stopping"
    if not _inside_tensorflow(frame):
        raise KeyboardInterrupt
    caller = frame
    while caller is not None:
        caller.f_trace = _interrupt_when_safe
        caller = caller.f_back
    sys.settrace(_interrupt_when_safe)


def _is_script_being_run():
    """True when the program is one of this repository's scripts (not, say, pytest importing them)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is not None and Path(main_file).resolve().parent == Path(__file__).resolve().parent


# Installed on import, so that Ctrl-C during the imports that follow (TensorFlow takes seconds) is a clean
# stop too. Only for the scripts: a program that imports them (a test runner) keeps its own Ctrl-C.
if _is_script_being_run() and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _on_ctrl_c)


def run(main):
    """Runs `main()`; Ctrl-C ends it with exit status 130 and one line instead of a traceback.

    Scripts close their summary writers in `finally` blocks, so everything logged before Ctrl-C is kept.
    """
    _ctrl_c_state["phase"] = "main"
    try:
        main()
    except KeyboardInterrupt:
        # Ended here, while the interrupted frames (and their tf.data iterators) are still alive, so no
        # TensorFlow object is torn down after the interruption: see _stop_now.
        _stop_now()
    finally:
        _ctrl_c_state["phase"] = "done"


# ---------------------------------------------------------------------------------------------------
# Log directories
# ---------------------------------------------------------------------------------------------------


def new_run_dir(logdir, script_path):
    """Creates and returns a new, empty directory `<logdir>/<script stem>/<date-time>`.

    A rerun never writes into an earlier run: if the name exists (two runs in the same second) a
    suffix is added. An unwritable logdir ends the program with a one-line error.
    """
    experiment_dir = Path(logdir) / Path(script_path).stem
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        experiment_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            run_dir = experiment_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            try:
                run_dir.mkdir()
                return run_dir
            except FileExistsError:
                continue
    except OSError as error:
        fail(f"cannot write logs under --logdir {logdir!r}: {error.strerror or error}")
    fail(f"could not find a new run directory name under {experiment_dir}")


def shared_run_dir(logdir, script_path, name):
    """Returns `<logdir>/<script stem>/<name>`, created if needed, for processes that share one run.

    Whoever writes into it must still never overwrite what is there (see 06_hparams.py).
    """
    run_dir = Path(logdir) / Path(script_path).stem / name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"cannot write logs under --logdir {logdir!r}: {error.strerror or error}")
    return run_dir


def print_view_command(run_dir, tab, extra_flags=""):
    """Prints the command that shows this script's logs, and the tab to open."""
    experiment_dir = Path(run_dir).parent
    flags = f" {extra_flags}" if extra_flags else ""
    print(f"\nLogs written to {run_dir}")
    print(f"View them:  tensorboard --logdir {experiment_dir}{flags}")
    print(f"Then open http://localhost:6006 and the {tab} tab.")


def configure_gpu():
    """Lets TensorFlow grow GPU memory as needed, when there is a GPU.

    The video set memory growth on `physical_devices[0]` unconditionally, which raises an IndexError on
    a machine without a GPU.
    """
    import tensorflow as tf  # here, not at the top: importing this module must stay fast (see Ctrl-C above)

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            # TensorFlow has already started on the GPU (a second call in one notebook, say): the setting
            # can no longer change, and the GPU is there all the same.
            pass


# ---------------------------------------------------------------------------------------------------
# The dataset: `auto` and the offline probe
# ---------------------------------------------------------------------------------------------------


def can_connect(url, timeout=CONNECT_TIMEOUT_SECONDS):
    """True when a TCP connection to the URL's host opens within `timeout` seconds.

    The check runs in a daemon thread because a name lookup on a broken network ignores socket
    timeouts; the thread is simply abandoned when it takes too long.
    """
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    result = {}

    def connect():
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            result["ok"] = True
        except OSError:
            result["ok"] = False

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return result.get("ok", False)


def is_cached(name):
    """True when tensorflow_datasets has already prepared `name` in its data directory."""
    import tensorflow_datasets as tfds

    # A half-finished earlier download makes tfds log a warning here; the answer is simply "no".
    absl_logger = logging.getLogger("absl")
    previous_level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        return tfds.builder(name).is_prepared()
    finally:
        absl_logger.setLevel(previous_level)


def resolve_dataset(name):
    """Turns `--dataset` into a dataset that can really be loaded, within seconds.

    `auto` picks CIFAR-10 when it is cached or downloadable, else `digits` with one warning line. A
    dataset named explicitly that can't be had ends the program with a one-line error; it is never
    silently swapped for another.
    """
    if name == "digits":
        return name
    wanted = "cifar10" if name == "auto" else name
    if is_cached(wanted) or can_connect(DOWNLOAD_URLS[wanted]):
        return wanted
    host = urllib.parse.urlsplit(DOWNLOAD_URLS[wanted]).hostname
    if name == "auto":
        print(
            f"warning: CIFAR-10 is not cached and {host} cannot be reached, so this run uses the "
            "offline 'digits' dataset; to get CIFAR-10, run once online: python starter.py --dataset cifar10",
            file=sys.stderr,
        )
        return "digits"
    fail(
        f"{name} is not cached and {host} cannot be reached; connect to the internet once "
        "to download it, or use --dataset digits (offline)"
    )


def quick_subset(dataset):
    """What `--quick` trains on: a copy of `dataset` with the first QUICK_TRAIN_EXAMPLES and QUICK_TEST_EXAMPLES
    examples of its splits."""
    num_train = min(dataset.num_train, QUICK_TRAIN_EXAMPLES)
    num_test = min(dataset.num_test, QUICK_TEST_EXAMPLES)
    train, test = dataset.train.take(num_train), dataset.test.take(num_test)
    return dataclasses.replace(dataset, train=train, test=test, num_train=num_train, num_test=num_test)


def load_from_args(args):
    """Resolves and loads `--dataset`, honouring `--quick`, and prints what was loaded."""
    # Imported here rather than at the top because starter.py imports this module for its own main().
    import starter

    dataset = starter.load_dataset(resolve_dataset(args.dataset))
    if args.quick:
        dataset = quick_subset(dataset)
    print(
        f"Dataset: {dataset.name}, {dataset.num_train} train and {dataset.num_test} held-out test "
        f"images of {dataset.image_shape}"
    )
    return dataset


def start(parser, argv=None):
    """Every script's first line: parses the flags, lets a GPU grow its memory, loads the dataset.

    Returns:
        (args, dataset): the parsed flags and the `starter.Dataset` they ask for.
    """
    args = parse_args(parser, argv)
    configure_gpu()
    return args, load_from_args(args)
