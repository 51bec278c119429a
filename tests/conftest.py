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
    """`run_script("01_callbacks.py", "--epochs", "2")` runs the script once with --quick on digits.

    Runs are cached by their arguments, so tests that check the same run share it.
    """
    finished = {}

    def run(script, *extra_args):
        key = (script, extra_args)
        if key not in finished:
            started = time.monotonic()
            result = run_python(script, "--quick", "--dataset", "digits", "--logdir", str(shared_logdir), *extra_args)
            seconds = time.monotonic() - started
            assert result.returncode == 0, f"{script} failed:\n{result.stderr[-3000:]}"
            match = re.search(r"^Logs written to (.+)$", result.stdout, re.MULTILINE)
            assert match, f"{script} did not say where its logs are:\n{result.stdout[-2000:]}"
            finished[key] = ScriptRun(result.stdout, result.stderr, seconds, Path(match.group(1)))
        return finished[key]

    return run
