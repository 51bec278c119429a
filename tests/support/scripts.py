"""What the tests and their support share about running the scripts: the repository's root, each script's test
arguments, running `python` as a learner does, and what a learner must not see on stderr."""

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The arguments (beyond --quick --dataset digits --logdir) each script runs with in this test session.
# Every test of a script, and the end-to-end TensorBoard test, asks for the same run, so it runs once.
SCRIPT_ARGS = {
    "01_callbacks.py": ("--epochs", "3"),
    "02_scalars_custom_loop.py": ("--epochs", "2"),
    "03_images.py": ("--grid-size", "16"),
    "04_confusion_matrix.py": ("--epochs", "2"),
    "05_graph.py": (),
    "06_hparams.py": (),
    "07_projector.py": (),
    "08_profiler.py": (),
    "09_text.py": ("--epochs", "2"),
    "10_pr_curves.py": ("--epochs", "3"),
    "11_custom_scalars.py": ("--epochs", "3"),
    "12_debugger.py": (),
    # Batches of 16: 52 of them an epoch, so the callback's update_freq is 2 and really skips batches.
    "13_fit_callbacks.py": ("--epochs", "3", "--batch-size", "16"),
}


# What a learner must not see on stderr: a traceback, or a Python warning ("file.py:74: UserWarning: ...",
# "warnings.warn(...)", or one logged through Python's logging by TensorFlow or absl). TensorFlow's C++
# start-up lines ("I0000 ... cudart_stub", "WARNING: All log messages before absl::InitializeLog() ...") are not
# among them: TensorFlow prints them while it loads, whatever the log level (tests/test_terminal.py checks which
# lines the scripts keep off the terminal).
PYTHON_NOISE = re.compile(
    r"Traceback \(most recent call last\)|^\S.*:\d+: \w*Warning: |warnings\.warn|^WARNING:(tensorflow|absl):"
)


def python_noise(stderr):
    """The lines of `stderr` that are a traceback or a Python warning."""
    return [line for line in stderr.splitlines() if PYTHON_NOISE.search(line)]


def assert_quiet(stderr):
    noise = python_noise(stderr)
    assert not noise, "stderr holds a traceback or Python warning:\n" + "\n".join(noise) + f"\n---\n{stderr[-3000:]}"


@dataclasses.dataclass
class ScriptRun:
    """One finished run of a numbered script."""

    stdout: str
    stderr: str
    seconds: float
    run_dir: Path


def run_python(*args, timeout=600, env=None):
    """Runs `python *args` from the repository root, as a learner would, and returns the result."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
