"""A lesson in a real Jupyter kernel: `%run` it, press the stop button mid-training, and the kernel lives on.

The stop button sends SIGINT to the kernel (KernelManager.interrupt_kernel). The lesson must stop with its one
line, close its writers (the event files are readable), put the kernel's own SIGINT handler back, and leave the
kernel with everything the learner had defined; a second lesson then runs in the same kernel, called as
`lesson.main([...])`.
"""

import ctrl_c

import queue
import time

import pytest
from jupyter_client.manager import start_new_kernel

from support import tb_read
from support.scripts import ROOT, python_noise

REPLY_TIMEOUT_SECONDS = 300


class Kernel:
    """A kernel started from the repository's root, and the text of what each execution printed."""

    def __init__(self):
        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(ROOT))

    def start(self, code):
        return self.client.execute(code)

    def output(self, msg_id, until=None, timeout=REPLY_TIMEOUT_SECONDS):
        """What `msg_id` prints (errors as "ERROR name: value"), until the kernel is idle again or, with
        `until`, until that text has been printed."""
        text = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.client.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                text += content["text"]
            elif kind == "error":
                text += f"ERROR {content['ename']}: {content['evalue']}\n"
            elif kind == "status" and content["execution_state"] == "idle":
                return text
            if until is not None and until in text:
                return text
        raise AssertionError(f"no reply within {timeout} s; printed so far:\n{text[-2000:]}")

    def run(self, code):
        return self.output(self.start(code))

    def shutdown(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel():
    started = Kernel()
    yield started
    started.shutdown()


def test_the_stop_button_stops_a_lesson_and_the_kernel_runs_the_next_one(kernel, tmp_path):
    logdir = tmp_path / "logs"
    assert kernel.run("learner_value = 41") == ""

    # `%run` makes the script __main__, as a learner's `%run 02_scalars_custom_loop.py --quick` does.
    running = kernel.start(f"%run 02_scalars_custom_loop.py --quick --dataset digits --logdir {logdir} --epochs 30")
    before = kernel.output(running, until="Epoch 2/30")
    kernel.manager.interrupt_kernel()
    after = kernel.output(running)
    printed = before + after

    # One line, no traceback, and not the end of the kernel.
    assert ctrl_c.STOPPED_LINE in after, printed[-3000:]
    assert "ERROR" not in printed and not python_noise(printed), printed[-3000:]
    assert kernel.manager.is_alive()
    assert kernel.run("print(learner_value + 1)") == "42\n"
    # The lesson's SIGINT handler is gone: the next stop button press meets the kernel's own.
    handler = kernel.run("import signal, ctrl_c; print(signal.getsignal(signal.SIGINT) is ctrl_c._on_ctrl_c)")
    assert handler == "False\n"

    # The epochs logged before the stop are on disk and readable: at least the first, whole.
    (run_dir,) = (logdir / "02_scalars_custom_loop").iterdir()
    for split in ("train", "test"):
        run = tb_read.load(run_dir / split)
        assert [step for step, _ in tb_read.scalar_series(run, "loss")][:1] == [0]

    # A second lesson in the same kernel, called in-process with its flags as a list.
    second = kernel.run(
        "import importlib\n"
        f"importlib.import_module('01_callbacks').main(['--quick', '--dataset', 'digits', '--logdir', '{logdir}'])"
    )
    assert "ERROR" not in second, second[-3000:]
    assert "Logs written to" in second
    (callbacks_run,) = (logdir / "01_callbacks").iterdir()
    tb_read.assert_epoch_scalars(callbacks_run / "train", ("epoch_loss", "epoch_accuracy"), 1)
