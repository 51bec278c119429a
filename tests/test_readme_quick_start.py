"""The README's Quick start, run as written on the machine's own Debian Python: a virtual environment, the install,
the first lesson, and the `tensorboard` command it prints.

It installs the lessons' requirements from PyPI (a few GB, a minute or more), so it runs only when asked:
`.ci/run` sets RUN_README_INSTALL=1 on its first pytest pass, and so can you.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support.scripts import ROOT
from tensorboard_server import free_port

SYSTEM_PYTHON = Path("/usr/bin/python3")
INSTALL_TIMEOUT_SECONDS = 1800


def quick_start():
    """The README's "## Quick start" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]


def quick_start_commands():
    """The non-empty lines of the Quick start's first ```bash block."""
    match = re.search(r"```bash\n(.*?)```", quick_start(), re.DOTALL)
    assert match, "the Quick start has no ```bash block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def stated_install_size():
    """The install's size that the Quick start states ("about 3.4 GB"), in GB."""
    match = re.search(r"about (\d+(?:\.\d+)?) GB", quick_start())
    assert match, 'the Quick start says how much the install takes ("about N GB")'
    return float(match.group(1))


def is_externally_managed(python):
    """True when `python` refuses `pip install` outside a virtual environment (PEP 668's marker file)."""
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return (Path(stdlib) / "EXTERNALLY-MANAGED").exists()


def clone_of_repository(directory):
    """The repository's files as a fresh clone has them (tracked and new, not ignored: no .venv, no logs)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, directory / name)
    return directory


def directory_size_gb(path):
    """The size of `path` in GB as `du -sh` counts them (2^30 bytes)."""
    du = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(du.stdout.split()[0]) / 2**20


@pytest.mark.skipif(
    os.environ.get("RUN_README_INSTALL") != "1",
    reason="installs the requirements from PyPI into a new venv (a few GB): .ci/run sets RUN_README_INSTALL=1 on its "
    "first pass only; set it to run this test",
)
def test_the_readme_quick_start_works_as_written_on_debians_own_python(tmp_path):
    if not SYSTEM_PYTHON.exists() or not is_externally_managed(SYSTEM_PYTHON):
        pytest.skip(f"needs {SYSTEM_PYTHON}, externally managed as on Debian and Ubuntu")
    assert sys.platform.startswith("linux")
    *commands, view_line = quick_start_commands()
    assert commands[0] == "python3 -m venv .venv" and commands[1].startswith("source .venv/bin/activate")
    assert view_line.startswith("tensorboard --logdir logs/01_callbacks/<run>")
    repository = clone_of_repository(tmp_path / "repository")
    # As on a fresh Debian or Ubuntu: `python3` is the system's, and no virtual environment is active.
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8"}

    # Every line but the last, in one shell, as typed: a failing line stops it.
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=repository,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    minutes = (time.monotonic() - started) / 60
    assert result.returncode == 0, f"the Quick start failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "externally-managed-environment" not in result.stderr

    # The lesson ran, and printed the command that shows its run.
    match = re.search(r"^View them:\s+(tensorboard --logdir (logs/01_callbacks/\S+))$", result.stdout, re.MULTILINE)
    assert match, f"01_callbacks.py printed no view command:\n{result.stdout[-3000:]}"
    run_dir = repository / match.group(2)
    assert list(run_dir.glob("train/events.out.tfevents.*")), f"no training events under {run_dir}"

    size = directory_size_gb(repository / ".venv")
    stated = stated_install_size()
    assert abs(size - stated) <= 0.15 * stated, f"the venv takes {size:.2f} GB; the README says about {stated} GB"
    print(f"Quick start: {minutes:.1f} min, venv {size:.2f} GB")

    # The README's last line, with the run's directory for <run>, on a free port: TensorBoard serves the run.
    port = free_port()
    view = view_line.split("#")[0].strip().replace("logs/01_callbacks/<run>", shlex.quote(match.group(2)))
    server = subprocess.Popen(
        ["bash", "-c", f"source .venv/bin/activate && exec {view} --port {port}"],
        cwd=repository,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        runs = wait_for_runs(f"http://localhost:{port}/data/runs", server, timeout=120)
        assert {"train", "validation"} <= set(runs)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_for_runs(url, server, timeout):
    """The run names TensorBoard lists at `url`, once it lists any; fails if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "tensorboard exited"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                runs = json.loads(response.read())
            if runs:
                return runs
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"TensorBoard listed no run within {timeout} s")
