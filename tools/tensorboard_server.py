"""Starts the real `tensorboard` on a free localhost port, and reads its HTTP API like the web page does.

tools/screenshots.py and the tests both use it (the tests find it through pyproject.toml's pythonpath).
"""

import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

TENSORBOARD = str(Path(sys.executable).with_name("tensorboard"))

# Headless Chromium flags that work on a closed network (no background downloads, no first-run pages).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TensorBoard:
    """A running TensorBoard server; `get` and `post` return decoded JSON (or bytes with raw=True)."""

    def __init__(self, logdir, *flags):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [TENSORBOARD, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(self.port), *flags]
        # A session of its own, so that stopping it also stops the data server it may have started.
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )

    def _open(self, request):
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            return body

    def get(self, path, raw=False, **query):
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        body = self._open(url)
        return body if raw else json.loads(body)

    def post(self, path, payload):
        request = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        return json.loads(self._open(request))

    def session_groups(self, slice_size=1000):
        """The HParams table's rows (session groups) of every status, as the dashboard asks for them."""
        request = {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": slice_size,
        }
        return self.post("/data/plugin/hparams/session_groups", request)["sessionGroups"]

    def wait_until(self, condition, timeout=120, what="TensorBoard"):
        """Polls `condition()` until it is true; the server loads the logdir in the background."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tensorboard exited: {self.process.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(OSError, ValueError):
                if condition():
                    return
            time.sleep(0.5)
        raise TimeoutError(f"{what} was not ready within {timeout} s")

    def stop(self):
        """Stops the server and everything it started, by its process id."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process.stderr.close()


@contextlib.contextmanager
def running_tensorboard(logdir, *flags, expected_runs=()):
    """A TensorBoard on `logdir` that already lists `expected_runs`; always stopped afterwards."""
    server = TensorBoard(logdir, *flags)
    try:
        server.wait_until(lambda: set(expected_runs) <= set(server.get("/data/runs")), what="the runs")
        yield server
    finally:
        server.stop()
