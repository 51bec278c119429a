"""Shared fixtures: each numbered script runs once per test session, into one shared logdir.

The suite runs in two processes (pytest-xdist's `-n 2` in pyproject.toml), each with test files of its own. A
script run is shared between them through files: the first process to ask for it runs it, under a lock, and
writes down its result; the other reads that. So every script still runs once per session.
"""

import dataclasses
import fcntl
import hashlib
import json
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
    "17_audio.py": ("--epochs", "2"),
    "18_mesh.py": ("--epochs", "2"),
}

# The scripts that make their own data, and so take no --dataset: the others run on the offline `digits`.
MAKES_ITS_OWN_DATA = {"17_audio.py"}


def dataset_flags(script):
    """`--dataset digits` for a script that loads a dataset; nothing for one that makes its own data."""
    return () if script in MAKES_ITS_OWN_DATA else ("--dataset", "digits")


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


def session_dir(tmp_path_factory):
    """A directory of this test session that every pytest-xdist worker process shares."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own base directory inside the session's; without it, the base is the
    # session's own.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_logdir(tmp_path_factory):
    """One logdir for every script of the session, as if a learner had run them all."""
    logdir = session_dir(tmp_path_factory) / "logs"
    logdir.mkdir(exist_ok=True)
    return logdir


def run_once(script, args, record_dir):
    """Runs `python script *args` unless a process of this session already has; returns its result as a dict.

    The result is kept in a JSON file named after the arguments, written under an exclusive lock, so that two
    workers asking at once wait for one run.
    """
    name = hashlib.sha256(json.dumps([script, *args]).encode()).hexdigest()[:16]
    record = record_dir / f"{name}.json"
    with open(record_dir / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            started = time.monotonic()
            result = run_python(script, *args)
            fields = {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}
            record.write_text(json.dumps({**fields, "seconds": time.monotonic() - started}))
    return json.loads(record.read_text())


@pytest.fixture(scope="session")
def run_script(shared_logdir):
    """`run_script("01_callbacks.py")` runs the script once with --quick on digits (see dataset_flags) and its
    SCRIPT_ARGS.

    Extra arguments replace SCRIPT_ARGS. Runs are kept by their arguments, so tests (in either worker) share them.
    """
    record_dir = shared_logdir.parent / "script-runs"
    record_dir.mkdir(exist_ok=True)

    def run(script, *extra_args):
        extra_args = extra_args or SCRIPT_ARGS[script]
        result = run_once(
            script, ("--quick", *dataset_flags(script), "--logdir", str(shared_logdir), *extra_args), record_dir
        )
        assert result["returncode"] == 0, f"{script} failed:\n{result['stderr'][-3000:]}"
        assert_quiet(result["stderr"])
        match = re.search(r"^Logs written to (.+)$", result["stdout"], re.MULTILINE)
        assert match, f"{script} did not say where its logs are:\n{result['stdout'][-2000:]}"
        return ScriptRun(result["stdout"], result["stderr"], result["seconds"], Path(match.group(1)))

    return run
