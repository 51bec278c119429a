"""
What every numbered script shares but no lesson teaches: the plumbing around the lessons.

- Flags: `make_parser` (`--dataset`, `--epochs`, `--batch-size`, `--logdir`, `--seed`, `--quick`), `parse_args`
  (which never reads a Jupyter kernel's own command line), and the argparse types `positive_int` and
  `positive_float`;
- `start`, every lesson's first line: the flags, the random seed and GPU memory growth (and, for Debugger V2 in a
  notebook, no warning about cells that have no source file). It runs when `main` starts, after the lesson's
  imports, TensorFlow's among them: a mistyped flag is reported once TensorFlow has loaded, a few seconds in;
- run directories that are never reused (`new_run_dir`) and `print_view_command`, the
  `tensorboard --logdir <run>` line every script ends with (this run alone, so that TensorBoard ticks its charts:
  it ticks no run above MAX_RUNS_TICKED), and the command that compares it with the lesson's earlier runs;
- the `auto` dataset choice: `resolve_dataset` (CIFAR-10 when it is cached or can be downloaded, else the
  offline `digits`, decided in seconds by `is_cached` and `can_connect`);
- one-line errors (`fail`), the one-line note on a batch larger than the data (`note_large_batch`) and GPU memory
  growth (`configure_gpu`, which also keeps TensorFlow's "failed call to cuInit" line off a machine without an
  NVIDIA driver).

It imports nothing of this repository but ctrl_c (for a second Ctrl-C while it stops local processes), and
TensorFlow and Keras only inside the functions that use them, so that importing it takes no time. The video's own
code (data, pipelines, CNN, training steps) is in starter.py, TensorBoard helpers are in utils.py, and Ctrl-C is in
ctrl_c.py.
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


def _toggle_note(directory):
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
    print(f"Then open http://localhost:6006 and the {tab} tab{_toggle_note(run_dir)}.")
    if whole_curve_note:
        print(WHOLE_CURVE_NOTE)
    print(
        f"To compare it with earlier runs:  tensorboard --logdir {shlex.quote(str(lesson_dir))}{flags}"
        f"{_toggle_note(lesson_dir)}"
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


# ---------------------------------------------------------------------------------------------------
# Local processes: the chief and workers of 14_keras_tuner.py and 15_multi_worker.py
# ---------------------------------------------------------------------------------------------------

# Imported here, with this section, which only the two multi-process lessons use.
import ctrl_c  # noqa: E402

import codecs  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

LOCALHOST = "localhost"
# After a Ctrl-C, a worker that died or a timeout, each process gets this long to stop by itself (its own Ctrl-C
# handling closes its summary writers) before it is killed.
STOP_GRACE_SECONDS = 10
# Once the leader (the first process started: 14's chief, 15's worker 0) or every process but one has ended well,
# the others must end within this time: a KerasTuner chief waits up to 20 s between its checks that every worker
# is done, and a stalled worker (keras-team/keras-tuner#915) never ends. A worker that ends earlier says nothing:
# a KerasTuner worker ends when no trial is left, while the others may still train one for a long time.
FINISH_TIMEOUT_SECONDS = 180
# The signals of a crash, for which the one-line error adds `if_killed` (not SIGKILL or SIGTERM from elsewhere).
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT)
# What a process that could not listen on its port says in its log (gRPC, through TensorFlow or KerasTuner).
PORT_TAKEN_FRAGMENTS = ("Address already in use", "Failed to bind to address", "Could not start gRPC server")


def free_ports(count):
    """`count` different TCP ports that nothing on this machine listens on right now."""
    probes = []
    try:
        # All bound at once, so that the system gives `count` different ports.
        for _ in range(count):
            probe = socket.socket()
            probes.append(probe)
            probe.bind((LOCALHOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    except OSError as error:
        fail(f"cannot find a free port on {LOCALHOST}: {error.strerror or error}")
    finally:
        for probe in probes:
            probe.close()


def script_path(lesson):
    """The file of a numbered script, `<repository>/<lesson>.py`: what a child process runs, also when the lesson
    itself runs in a notebook (which has no `__file__`)."""
    return Path(__file__).resolve().parent / f"{Path(lesson).stem}.py"


def shared_flags(args):
    """The shared flags of `args` as a command line, for a child process that must train as this one would (with
    the dataset that `auto` became here, so that every process loads the same data)."""
    flags = ["--dataset", resolve_dataset(args.dataset), "--epochs", str(args.epochs)]
    flags += ["--batch-size", str(args.batch_size), "--logdir", str(args.logdir), "--seed", str(args.seed)]
    return flags + (["--quick"] if args.quick else [])


class LocalProcesses:
    """Child processes of one lesson on this machine, each `python <lesson>.py <argv>` with its own environment.

    Use it as a context manager: leaving the block (at the end, on Ctrl-C, on an error) stops every process that
    is still running. Each process runs in a session of its own, so a Ctrl-C in the terminal reaches only the
    launcher, which then stops them (each gets a SIGINT, as if Ctrl-C were pressed in its own terminal, then a
    SIGKILL after STOP_GRACE_SECONDS). Each process's output goes to `<log_dir>/<name>.log`; the lines it prints
    on stdout are also shown here, after its name, if it was started with `show=True`.
    """

    def __init__(self, lesson, log_dir, if_killed=""):
        """`if_killed`: what to add to the one-line error when a process is killed by a crash signal (a known crash)."""
        self.script = script_path(lesson)
        self.if_killed = if_killed
        self.log_dir = Path(log_dir)
        self.processes = {}  # name -> (Popen, log path)
        self.relays = []

    def __enter__(self):
        # A second Ctrl-C while stop() gives them their grace ends this program at once: kill them first.
        ctrl_c.before_stopping_now(self.kill)
        return self

    def __exit__(self, *exc_info):
        try:
            self.stop()
        finally:
            ctrl_c.no_longer_before_stopping_now(self.kill)

    def start(self, name, argv, environment, show=True):
        """Starts `python <lesson>.py *argv` with `environment` added to this process's own."""
        log_path = self.log_dir / f"{name.replace(' ', '-')}.log"
        log = open(log_path, "a", encoding="utf-8")  # closed by its relay thread
        env = {**os.environ, **environment, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, str(self.script), *argv]
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
        except BaseException:
            log.close()
            raise
        self.processes[name] = (process, log_path)
        relay = threading.Thread(target=self._relay, args=(name, process.stdout, log, show), daemon=True)
        relay.start()
        self.relays.append(relay)
        return process

    @staticmethod
    def _relay(name, stdout, log, show):
        """Copies a process's stdout into its log and, with `show`, here, as it comes, each line after its name
        (a progress bar redraws its line after a carriage return: that line starts with the name too)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        at_line_start = True
        with log, stdout:
            for chunk in iter(lambda: stdout.read1(65536), b""):
                text = decoder.decode(chunk)
                log.write(text)
                log.flush()
                if not show:
                    continue
                shown = []
                for piece in re.split(r"([\r\n])", text):
                    if piece and at_line_start and piece not in "\r\n":
                        shown.append(f"{name} | ")
                    shown.append(piece)
                    at_line_start = piece in ("\r", "\n") or (at_line_start and not piece)
                sys.stdout.write("".join(shown))
                sys.stdout.flush()

    def wait(self, timeout):
        """Waits until every process has ended well; on a process that fails, or on a timeout (`timeout` seconds
        for the whole run, FINISH_TIMEOUT_SECONDS after the leader or all processes but one ended well), stops
        them all and ends the program with a one-line error that says what to do."""
        deadline = time.monotonic() + timeout
        while True:
            codes = {name: process.poll() for name, (process, _) in self.processes.items()}
            failed = [name for name, code in codes.items() if code not in (None, 0)]
            if failed:
                self.stop()
                fail(self._failure(failed[0], codes[failed[0]]))
            if all(code == 0 for code in codes.values()):
                break
            leader_code = next(iter(codes.values()))
            if leader_code == 0 or list(codes.values()).count(0) >= len(codes) - 1:
                deadline = min(deadline, time.monotonic() + FINISH_TIMEOUT_SECONDS)
            if time.monotonic() > deadline:
                self.stop()
                running = ", ".join(name for name, code in codes.items() if code is None)
                fail(f"stopped {running}, which did not finish in time; the logs are in {self.log_dir}")
            time.sleep(0.2)
        for relay in self.relays:
            relay.join(timeout=STOP_GRACE_SECONDS)

    def _failure(self, name, code):
        """The one-line error for a process that ended with `code`."""
        log_path = self.processes[name][1]
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        if any(fragment in log_text for fragment in PORT_TAKEN_FRAGMENTS):
            return f"{name} could not listen on its port (another program took it); run again, new ports are chosen"
        # The last line as a terminal would show it: after its last carriage return, without colour codes.
        shown = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line.split("\r")[-1]) for line in log_text.split("\n")]
        last_lines = [line.strip() for line in shown if line.strip()]
        last = f" (its last line: {last_lines[-1][:200]})" if last_lines else ""
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"stopped with exit status {code}"
        known = f" {self.if_killed}" if -code in CRASH_SIGNALS and self.if_killed else ""
        return f"{name} {how}{last}; the others were stopped. Its log: {log_path}.{known}"

    def stop(self):
        """Stops every process still running: a SIGINT to its session, then a SIGKILL if it is still there."""
        running = [process for process, _ in self.processes.values() if process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for relay in self.relays:
            relay.join(timeout=STOP_GRACE_SECONDS)

    def kill(self):
        """Kills every process still running, at once (a SIGKILL to its session)."""
        for process, _ in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
