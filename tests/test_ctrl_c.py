"""Ctrl-C at several points of 01, 02 and 06: exit 130, one line, and every event file still readable.

Each case starts the script as a learner does, watches its output for a marker of the point to
interrupt (no long sleeps), then sends SIGINT, which is what Ctrl-C in a terminal sends.
"""

import ctrl_c

import re
import subprocess
import sys

import pytest
import tensorflow as tf

from support import tb_read
from support.scripts import ROOT, python_noise
from support.shared_checks import interrupt_at

# TensorFlow's C++ log lines from its start-up; anything else on stderr is the script's own.
TF_STARTUP_LINE = re.compile(
    r"^([IWE]\d{4} |WARNING: All log messages before absl|To enable the following instructions)"
)

# (script, extra flags, the stream and text that mark the moment, how many Ctrl-C's, what is running then)
CASES = [
    # During TensorFlow's import: its first log line comes while it loads.
    ("01_callbacks.py", (), "stderr", "absl::InitializeLog", 1, "start-up"),
    # Many epochs: the run must stop within the epoch it is in, not after model.fit has finished them all.
    ("01_callbacks.py", ("--epochs", "30"), "stdout", "Epoch 2/30", 1, "an epoch of model.fit"),
    # The data is loaded, the run directory made: the pipelines and the model are being built.
    ("02_scalars_custom_loop.py", (), "stdout", "Dataset:", 1, "start-up"),
    # The progress bar's last step of the epoch is printed, then the test split is evaluated.
    ("02_scalars_custom_loop.py", ("--epochs", "2"), "stdout", "16/16", 1, "evaluation"),
    # A second Ctrl-C while the first is still stopping the run ends it at once.
    ("06_hparams.py", (), "stdout", "Trial 1/2", 2, "an epoch of model.fit, twice"),
    # verbose=2 prints the epoch's line (its validation included), then the trial's row and curves are written.
    ("06_hparams.py", (), "stdout", "13/13 - ", 1, "logging a trial"),
]


@pytest.mark.parametrize(
    ("script", "extra", "stream", "marker", "presses", "moment"), CASES, ids=[f"{c[0][:2]}-{c[5]}" for c in CASES]
)
def test_ctrl_c_exits_130_with_one_line_and_keeps_readable_logs(
    script, extra, stream, marker, presses, moment, tmp_path
):
    code, stdout, stderr = interrupt_at(script, extra, stream, marker, presses, tmp_path)
    own_lines = [line for line in stderr.splitlines() if line.strip() and not TF_STARTUP_LINE.match(line)]
    assert code == ctrl_c.EXIT_CTRL_C, f"exit {code} at {moment}:\n{stderr[-3000:]}"
    assert own_lines == [ctrl_c.STOPPED_LINE], f"at {moment}:\n{stderr[-3000:]}"
    assert not python_noise(stderr)
    assert "Logs written to" not in stdout
    # Stopped where it was: no later epoch began.
    epochs = re.findall(r"^Epoch (\d+)/(\d+)", stdout, re.MULTILINE)
    if epochs:
        assert int(epochs[-1][0]) < int(epochs[-1][1]), f"training ran to its end after Ctrl-C at {moment}"
    for event_file in tmp_path.rglob("events.out.tfevents.*"):
        # Every record is whole (TFRecordDataset checks each record's length and checksums), and
        # TensorBoard's reader loads the run.
        records = sum(1 for _ in tf.data.TFRecordDataset(str(event_file)))
        assert records >= 1, event_file
        tb_read.load(event_file.parent)
    if marker.startswith("Epoch 2/"):
        # The first epoch ended before Ctrl-C: its curves are on disk, in both runs of the chart.
        (run_dir,) = [path for path in tmp_path.glob("*/*") if path.is_dir()]
        for split in ("train", "validation"):
            series = tb_read.scalar_series(tb_read.load(run_dir / split), "epoch_loss")
            assert [step for step, _ in series][:1] == [0], (split, series)


def test_a_ctrl_c_whose_interrupt_never_surfaced_still_ends_the_run_as_stopped():
    # `main` returns although a Ctrl-C had begun stopping it (the state a lost KeyboardInterrupt leaves behind):
    # the run still ends with the one line and exit status 130, not as a finished run with exit status 0.
    program = "import ctrl_c; ctrl_c.run(lambda argv: ctrl_c._state.update(phase='stopping'))"
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == ctrl_c.EXIT_CTRL_C, result.stderr
    assert result.stderr.strip() == ctrl_c.STOPPED_LINE
