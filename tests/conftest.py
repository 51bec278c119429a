"""Shared fixtures: each numbered script runs once per test session, into one shared logdir.

The suite runs in two processes (pytest-xdist's `-n 2` in pyproject.toml), each with test files of its own. A
script run is shared between them through files: the first process to ask for it runs it, under a lock, and
writes down its result; the other reads that. So every script still runs once per session.
"""

import fcntl
import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

from support.scripts import SCRIPT_ARGS, ScriptRun, assert_quiet, run_python


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
    """`run_script("01_callbacks.py")` runs the script once with --quick on digits and its SCRIPT_ARGS.

    Extra arguments replace SCRIPT_ARGS. Runs are kept by their arguments, so tests (in either worker) share them.
    """
    record_dir = shared_logdir.parent / "script-runs"
    record_dir.mkdir(exist_ok=True)

    def run(script, *extra_args):
        extra_args = extra_args or SCRIPT_ARGS[script]
        result = run_once(
            script, ("--quick", "--dataset", "digits", "--logdir", str(shared_logdir), *extra_args), record_dir
        )
        assert result["returncode"] == 0, f"{script} failed:\n{result['stderr'][-3000:]}"
        assert_quiet(result["stderr"])
        match = re.search(r"^Logs written to (.+)$", result["stdout"], re.MULTILINE)
        assert match, f"{script} did not say where its logs are:\n{result['stdout'][-2000:]}"
        return ScriptRun(result["stdout"], result["stderr"], result["seconds"], Path(match.group(1)))

    return run
