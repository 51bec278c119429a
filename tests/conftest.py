"""Shared fixtures: each numbered script runs once per test session, into one shared logdir."""

import dataclasses
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The arguments (beyond --quick --dataset digits --logdir) each script runs with in this test session.
# Every test of a script, and the end-to-end TensorBoard test, asks for the same run, so it runs once.
SCRIPT_ARGS = {
    "01_callbacks.py": ("--epochs", "3"),
    "02_scalars_custom_loop.py": ("--epochs", "2"),
    "03_images.py": ("--grid-every", "5", "--grid-size", "16"),
    "04_confusion_matrix.py": ("--epochs", "2"),
    "05_graph.py": (),
    "06_hparams.py": (),
    "07_projector.py": (),
    "08_profiler.py": (),
    "09_text.py": ("--epochs", "2"),
    "10_pr_curves.py": ("--epochs", "2"),
    "11_custom_scalars.py": ("--epochs", "3"),
    "12_debugger.py": (),
}


# What a learner must not see on stderr: a traceback, or a Python warning ("file.py:74: UserWarning: ...",
# "warnings.warn(...)", or one logged through Python's logging by TensorFlow or absl). TensorFlow's C++
# start-up lines ("I0000 ...", "E0000 ... cuInit", "WARNING: All log messages before absl::InitializeLog()
# ...") are not among them: they come before any of the script's code runs.
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


@pytest.fixture(scope="session")
def shared_logdir(tmp_path_factory):
    """One logdir for every script of the session, as if a learner had run them all."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def run_script(shared_logdir):
    """`run_script("01_callbacks.py")` runs the script once with --quick on digits and its SCRIPT_ARGS.

    Extra arguments replace SCRIPT_ARGS. Runs are cached by their arguments, so tests share them.
    """
    finished = {}

    def run(script, *extra_args):
        extra_args = extra_args or SCRIPT_ARGS[script]
        key = (script, extra_args)
        if key not in finished:
            started = time.monotonic()
            result = run_python(script, "--quick", "--dataset", "digits", "--logdir", str(shared_logdir), *extra_args)
            seconds = time.monotonic() - started
            assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
            assert_quiet(result.stderr)
            match = re.search(r"^Logs written to (.+)$", result.stdout, re.MULTILINE)
            assert match, f"{script} did not say where its logs are:\n{result.stdout[-2000:]}"
            finished[key] = ScriptRun(result.stdout, result.stderr, seconds, Path(match.group(1)))
        return finished[key]

    return run
