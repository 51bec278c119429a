"""
Ctrl-C, and a notebook's stop button, for every script: one line instead of a traceback, and the logs kept.

`run(main, argv)` runs a lesson's `main`. On a terminal a Ctrl-C ends the program with exit status 130 and the
line STOPPED_LINE; a second Ctrl-C while the first is still stopping ends it at once. In a Jupyter kernel (or
IPython), whose stop button sends the same SIGINT, the lesson stops with the same line and the kernel stays
alive, with everything the learner had defined.

Import this module first, before TensorFlow: run as a script (`python 02_scalars_custom_loop.py`), it installs its
handler on import, so a Ctrl-C during TensorFlow's slow import is a clean stop too. Nothing is installed when a
program imports the lessons (pytest, a notebook), and `run` puts back whatever handler was there before.

Being first, it is also where TensorFlow's C++ log level is set (`TF_CPP_MIN_LOG_LEVEL`, read once, when
TensorFlow starts): see QUIET_TENSORFLOW_LOG_LEVEL.
"""

import contextlib
import functools
import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path

# TensorFlow's C++ code logs at four levels: I(nfo), W(arning), E(rror), F(atal). Level 1 hides the INFO lines
# only ("This TensorFlow binary is optimized to use available CPU instructions...", and the five lines of each
# profile in 08, "Profiler session initializing" to "Collecting XSpace to repository"), so every warning and
# error still reaches the terminal; level 3 would hide real errors too. A level the user has set is kept.
QUIET_TENSORFLOW_LOG_LEVEL = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TENSORFLOW_LOG_LEVEL)

STOPPED_LINE = "Stopped by Ctrl-C: everything logged so far is kept."
EXIT_CTRL_C = 130  # what a shell reports for a program stopped by Ctrl-C (128 + SIGINT)

# How far the lesson is: "starting" (imports, before `run`), "main" (inside `run`), "stopping" (a Ctrl-C is
# unwinding `main`), "done".
_state = {"phase": "starting"}
# What must run before the program ends at once (a second Ctrl-C): e.g. killing the child processes it started,
# which would otherwise train on. See before_stopping_now.
_before_stopping_now = []


def before_stopping_now(callback):
    """Has `callback()` run before a terminal program ends at once (a second Ctrl-C), until taken back with
    no_longer_before_stopping_now."""
    _before_stopping_now.append(callback)


def no_longer_before_stopping_now(callback):
    if callback in _before_stopping_now:
        _before_stopping_now.remove(callback)


def in_interactive_shell():
    """True inside IPython or a Jupyter kernel (Jupyter, VS Code, Colab), where the process must never end."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def _stop_process_now():
    """Prints the one line and ends a terminal program at once, without Python's shutdown.

    Python's shutdown frees TensorFlow's objects while TensorFlow's own threads (tf.data's prefetching, its
    thread pools) may still use them; that race is how a stopped run could end in "free(): invalid next size"
    or a segmentation fault instead of exit 130. `os._exit` skips it. Nothing is lost: the scripts close their
    summary writers in `finally` blocks, and stdout and stderr are flushed here. Never called in a kernel.
    """
    for callback in reversed(_before_stopping_now):
        # Nothing may keep the program from ending here: a callback that fails is passed over.
        with contextlib.suppress(Exception):
            callback()
    sys.stdout.flush()
    print(f"\n{STOPPED_LINE}", file=sys.stderr, flush=True)
    os._exit(EXIT_CTRL_C)


def _tensorflow_directories():
    """Where TensorFlow's own Python code is, found without importing TensorFlow (that takes seconds).

    Only TensorFlow's package counts: Keras' training loop is where a Ctrl-C during model.fit should land,
    between two batches.
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

    Frames called from inside TensorFlow (its tracing runs thousands of lines of autograph) get no trace at
    all, so waiting for the safe point costs next to nothing.
    """
    if _inside_tensorflow(frame):
        return None if event == "call" else _interrupt_when_safe
    sys.settrace(None)
    raise KeyboardInterrupt


def _on_ctrl_c(signum, frame):
    """SIGINT handler: the first Ctrl-C inside `run` stops `main` at a safe point; any other stops at once.

    Python runs a signal handler between two bytecodes, which may be in the middle of TensorFlow's Python code
    (tracing a tf.function, handing a batch over). An exception there can leave TensorFlow half way (seen: a
    KeyboardInterrupt turned into a TypeError, and a segmentation fault). So the KeyboardInterrupt is raised
    at a line outside TensorFlow's code: at once if the main thread is outside it, else, with a trace
    function, as soon as it comes back out (in model.fit: before the next batch). It then unwinds `main`
    through its `finally` blocks, which close the summary writers.
    """
    if _state["phase"] != "main":
        # Before `run` (the slow imports) nothing is logged yet, and a second Ctrl-C means "now".
        if in_interactive_shell():
            raise KeyboardInterrupt
        _stop_process_now()
    _state["phase"] = "stopping"
    if not _inside_tensorflow(frame):
        raise KeyboardInterrupt
    caller = frame
    while caller is not None:
        caller.f_trace = _interrupt_when_safe
        caller = caller.f_back
    sys.settrace(_interrupt_when_safe)


def _is_script_being_run():
    """True when the program is one of this repository's scripts run from a terminal (not a test runner or a
    notebook importing them, and not IPython's `%run`, which is handled by `run`)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    is_ours = main_file is not None and Path(main_file).resolve().parent == Path(__file__).resolve().parent
    return is_ours and not in_interactive_shell()


if _is_script_being_run() and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _on_ctrl_c)


def run(main, argv=None):
    """Runs `main(argv)`; Ctrl-C (or a notebook's stop button) stops it with one line instead of a traceback.

    On a terminal the program then ends with exit status 130. In IPython or a Jupyter kernel `run` returns
    None and the kernel lives on; the SIGINT handler that was there before is put back either way.
    """
    if threading.current_thread() is not threading.main_thread():
        # Only the main thread may set a signal handler, and only it receives SIGINT: nothing to catch here.
        return main(argv)
    interactive = in_interactive_shell()
    previous_handler = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, _on_ctrl_c)
    _state["phase"] = "main"
    try:
        result = main(argv)
        if _state["phase"] == "stopping":
            # A Ctrl-C came, but its KeyboardInterrupt never surfaced in `main` (seen once in a test; why is not
            # known), so `main` ran on to its end. The run still ends as one stopped by Ctrl-C: one line, exit
            # status 130.
            raise KeyboardInterrupt
        return result
    except KeyboardInterrupt:
        if not interactive:
            # Ended here, while the interrupted frames (and their tf.data iterators) are still alive, so no
            # TensorFlow object is torn down after the interruption: see _stop_process_now.
            _stop_process_now()
        sys.stdout.flush()
        print(STOPPED_LINE, file=sys.stderr, flush=True)
        return None
    finally:
        # Our trace function is still set when `main` ended before the interrupt could be raised. (A Ctrl-C under a
        # debugger replaces the debugger's trace function with ours until then; without a Ctrl-C it is untouched.)
        if sys.gettrace() is _interrupt_when_safe:
            sys.settrace(None)
        _state["phase"] = "done"
        signal.signal(signal.SIGINT, previous_handler)
