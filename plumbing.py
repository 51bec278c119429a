"""
What every numbered script shares but no lesson teaches: the plumbing around the lessons.

- `start`, every lesson's first line: the flags, the random seed and GPU memory growth (and, for Debugger V2 in a
  notebook, no warning about cells that have no source file). It runs when `main` starts, after the lesson's
  imports, TensorFlow's among them: a mistyped flag is reported once TensorFlow has loaded, a few seconds in;
- flags: `make_parser` (`--dataset`, `--epochs`, `--batch-size`, `--logdir`, `--seed`, `--quick`), `parse_args`
  (which never reads a Jupyter kernel's own command line), and the argparse types `positive_int` and
  `positive_float`;
- run directories that are never reused (`new_run_dir`) and `print_view_command`, the
  `tensorboard --logdir <run>` line every script ends with (this run alone, so that TensorBoard ticks its charts:
  it ticks no run above MAX_RUNS_TICKED), and the command that compares it with the lesson's earlier runs;
- the `auto` dataset choice: `resolve_dataset` (CIFAR-10 when it is cached or can be downloaded, else the
  offline `digits`, decided in seconds by `is_cached` and `can_connect`);
- one-line errors (`fail`), the one-line note on a batch larger than the data (`note_large_batch`) and GPU memory
  growth (`configure_gpu`, which also keeps TensorFlow's "failed call to cuInit" line off a machine without an
  NVIDIA driver).

It imports nothing of this repository, and TensorFlow and Keras only inside the functions that use them, so that
importing it takes no time. The video's own code (data, pipelines, CNN, training steps) is in starter.py,
TensorBoard helpers are in utils.py, Ctrl-C is in ctrl_c.py, and the local processes of 14 and 15 are started and
stopped by launcher.py.
"""

import argparse
import contextlib
import ctypes
import datetime
import logging
import math
import os
import shlex
import socket
import sys
import tempfile
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

# Every run is seeded with this unless --seed says otherwise: the same flags give the same numbers.
DEFAULT_SEED = 42


# ---------------------------------------------------------------------------------------------------
# Every lesson's first line
# ---------------------------------------------------------------------------------------------------


def start(parser, argv=None):
    """Every lesson's first line: parses the flags, seeds every random generator, lets a GPU grow its memory,
    and silences the one TensorFlow warning that a notebook shows for nothing (`_NoMissingSourceWarnings`).

    Returns:
        The parsed flags (`args.dataset`, `args.epochs`, `args.batch_size`, `args.logdir`, `args.seed`,
        `args.quick` and the lesson's own).
    """
    args = parse_args(parser, argv)
    import keras  # here, not at the top, as in configure_gpu

    # One call seeds Python's `random`, NumPy and TensorFlow (weights, dropout, shuffling, augmentation), so the
    # same flags give the same curves; --seed gives another draw, to see how much a result owes to chance.
    keras.utils.set_random_seed(args.seed)
    configure_gpu()
    logging.getLogger("tensorflow").addFilter(_NO_MISSING_SOURCE_WARNINGS)
    return args


class _NoMissingSourceWarnings(logging.Filter):
    """Drops TensorFlow's warning "Failed to read source code from path: ...".

    Debugger V2's dump (12_debugger.py) copies the source file of every frame on each op's stack. Run from a
    notebook, some of those frames have no file: a cell's code lives in memory under a made-up name
    (/tmp/ipykernel_<pid>/<hash>.py), and the kernel's own start-up frames are `<frozen runpy>`. TensorFlow
    warns once for each such file, a warning the learner can do nothing about; the dump is complete without it.
    """

    def filter(self, record):
        return not str(record.msg).startswith("Failed to read source code from path")


# One instance, so that a second `start` in the same process (a notebook) adds no second filter.
_NO_MISSING_SOURCE_WARNINGS = _NoMissingSourceWarnings()


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


def make_parser(description, epochs=5, batch_size=64, dataset=True):
    """The flags every script shares; a script adds its own before parsing. `dataset=False` leaves out
    `--dataset`, for a lesson that makes its own data (17_audio.py generates its clips)."""
    parser = argparse.ArgumentParser(description=description)
    if dataset:
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
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seeds Python, NumPy and TensorFlow: the same flags give the same numbers (default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a tiny subset and one epoch: a smoke test that takes seconds",
    )
    return parser


def default_argv():
    """The flags to parse when a lesson's `main()` is given none: the command line's, when the program being run is
    one of this repository's scripts (a terminal, or IPython's `%run 02_scalars_custom_loop.py --quick`); else none,
    so that a Jupyter kernel's own command line (`-f kernel.json`), or a test runner's, is never taken for flags."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is not None and program.suffix == ".py" and program.resolve().parent == Path(__file__).resolve().parent:
        return sys.argv[1:]
    return []


def parse_args(parser, argv=None):
    """Parses `argv` (by default `default_argv()`); `--quick` means one epoch unless `--epochs` is given too."""
    args = parser.parse_args(default_argv() if argv is None else list(argv))
    if args.epochs is None:
        args.epochs = 1 if args.quick else args.default_epochs
    return args


def note_large_batch(batch_size, num_examples):
    """Prints one line when `--batch-size` is larger than the training data, which would otherwise go unremarked:
    every epoch is then a single batch of all of it, one step per epoch, and a curve of a few epochs has a few
    points. Returns True when it printed the line."""
    if batch_size <= num_examples:
        return False
    print(
        f"Note: --batch-size {batch_size} is larger than the {num_examples:,} training images, so every epoch is "
        f"a single batch of {num_examples:,} (one step per epoch)."
    )
    return True


def fail(message):
    """Ends the program with a one-line error on stderr and exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


# ---------------------------------------------------------------------------------------------------
# Log directories
# ---------------------------------------------------------------------------------------------------


def new_run_dir(logdir, lesson):
    """Creates and returns a new, empty directory `<logdir>/<lesson>/<date-time>`; `lesson` is a script's name
    (`"01_callbacks"`; a file name or path works too, its stem is used).

    A rerun never writes into an earlier run: if the name exists (two runs in the same second) a
    suffix is added. An unwritable logdir ends the program with a one-line error.
    """
    experiment_dir = Path(logdir) / Path(lesson).stem
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


# TensorBoard's page ticks every run when it finds at most this many, and none above: every chart then opens empty
# until "Toggle all runs" (checked on TensorBoard 2.21).
MAX_RUNS_TICKED = 40


def count_runs(directory):
    """The number of runs TensorBoard finds under `directory`: the directories that hold an event file."""
    return len({path.parent for path in Path(directory).rglob("*tfevents*") if path.is_file()})


def toggle_note(directory):
    """The note that TensorBoard ticks none of the runs under `directory`, and how to tick them; "" when it ticks
    them all."""
    runs = count_runs(directory)
    if runs <= MAX_RUNS_TICKED:
        return ""
    return f' ({runs} runs: above {MAX_RUNS_TICKED}, the run list ticks none: click "Toggle all runs" under it)'


# The Scalars tab's "Ignore outliers in chart scaling" is ticked when the page opens: on a run of a few epochs the
# first epoch's loss counts as an outlier, and the chart cuts the curve's top off.
WHOLE_CURVE_NOTE = (
    'If a curve is cut off at the top, untick "Ignore outliers in chart scaling" (top left) to see it all.'
)


def print_view_command(run_dir, tab, extra_flags="", whole_curve_note=False):
    """Prints where this run's logs are, the command that shows this run alone (so TensorBoard ticks its charts
    when the page opens), the tab to open, and one line on how to compare it with the lesson's earlier runs.
    `whole_curve_note`: also WHOLE_CURVE_NOTE, for a lesson whose short runs draw curves that the chart cuts off."""
    run_dir = Path(run_dir)
    lesson_dir = run_dir.parent
    flags = f" {extra_flags}" if extra_flags else ""
    print(f"\nLogs written to {run_dir}")
    # Quoted for the shell, so that a path with a space (or any other special character) can be pasted as it is.
    print(f"View them:  tensorboard --logdir {shlex.quote(str(run_dir))}{flags}")
    tabs = "tabs" if " and " in tab else "tab"  # "Scalars and Profile": two tabs
    print(f"Then open http://localhost:6006 and the {tab} {tabs}{toggle_note(run_dir)}.")
    if whole_curve_note:
        print(WHOLE_CURVE_NOTE)
    print(
        f"To compare it with earlier runs:  tensorboard --logdir {shlex.quote(str(lesson_dir))}{flags}"
        f"{toggle_note(lesson_dir)}"
    )


CUDA_DRIVER_LIBRARY = "libcuda.so.1"  # NVIDIA's driver on Linux, which TensorFlow loads to use a GPU
CUINIT_FAILED = b"failed call to cuInit"


def has_nvidia_driver():
    """True when NVIDIA's driver library can be loaded, as TensorFlow would to use a GPU (Linux)."""
    try:
        ctypes.CDLL(CUDA_DRIVER_LIBRARY)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def without_stderr_lines(fragment):
    """Runs the block with file descriptor 2, where TensorFlow's C++ code logs, sent to a temporary file; then
    writes everything it received to stderr, except the lines that hold `fragment` (bytes)."""
    sys.stderr.flush()
    real_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(real_stderr, 2)
            os.close(real_stderr)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True) if fragment not in line]
            with open(2, "wb", closefd=False) as stderr:
                stderr.write(b"".join(kept))


def configure_gpu():
    """Lets TensorFlow grow GPU memory as needed, when there is a GPU.

    The video set memory growth on `physical_devices[0]` unconditionally, which raises an IndexError on
    a machine without a GPU.
    """
    # Here, not at the top: plumbing.py itself loads without TensorFlow, which takes seconds.
    import tensorflow as tf

    # TensorFlow's first look for GPUs logs "E0000 ... failed call to cuInit: ... (303)" when there is no NVIDIA
    # driver: an ERROR line about a GPU the machine does not have. Only that line is dropped, and only when the
    # driver is missing; with a driver, a failing cuInit is a real error and shows.
    no_driver = sys.platform.startswith("linux") and not has_nvidia_driver()
    with without_stderr_lines(CUINIT_FAILED) if no_driver else contextlib.nullcontext():
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
