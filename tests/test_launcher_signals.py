"""However the launcher of 14 or 15 ends, every process it started ends too: SIGTERM and SIGHUP (a closed terminal)
stop them all with one line and the shell's exit status, SIGKILL takes them with it (Linux: a parent-death signal);
no worker's log ends in a traceback or an abort. While 15 trains, its processes listen on loopback only, or on ports
that its one line names."""

import re
import signal
import sys

import pytest

import launcher

from support.shared_checks import (
    assert_no_process_left,
    interrupt_at,
    is_loopback,
    listening_sockets,
    processes_mentioning,
)

# TensorFlow's C++ log lines from its start-up; anything else on stderr is the script's own.
TF_STARTUP_LINE = re.compile(
    r"^([IWE]\d{4} |WARNING: All log messages before absl|To enable the following instructions)"
)
# The marker that training has started, on the launcher's stdout.
TRAINING_STARTED = {"14_keras_tuner": "Search: Running Trial #1", "15_multi_worker": "Epoch 1/"}
# What a process that died badly leaves at the end of its log.
CRASH_FRAGMENTS = ("Traceback", "terminate called", "FATAL", "Aborted", "core dumped", "BrokenPipeError")
# Every process of the run must be gone within this time.
LEFT_AFTER_SECONDS = 15

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
@pytest.mark.parametrize("lesson", ["14_keras_tuner", "15_multi_worker"])
def test_a_launcher_ended_by_a_signal_leaves_no_process_and_clean_logs(tmp_path, lesson, signum):
    sockets = []

    def look_at_the_sockets(process):
        # The chief and workers at work: what they listen on.
        sockets.extend(listening_sockets(set(processes_mentioning(str(tmp_path))) - {process.pid}))

    code, stdout, stderr = interrupt_at(
        f"{lesson}.py",
        ("--workers", "2", "--trials", "2") if lesson == "14_keras_tuner" else ("--workers", "2"),
        "stdout",
        TRAINING_STARTED[lesson],
        1,
        tmp_path,
        signum=signum,
        at_marker=look_at_the_sockets if signum == signal.SIGTERM else None,
    )
    expected_code = -signum if signum == signal.SIGKILL else 128 + signum
    assert code == expected_code, stderr[-3000:]
    assert_no_process_left(str(tmp_path), timeout=LEFT_AFTER_SECONDS)
    if signum != signal.SIGKILL:
        own_lines = [line for line in stderr.splitlines() if line.strip() and not TF_STARTUP_LINE.match(line)]
        assert own_lines == [launcher.STOPPED_BY_SIGNAL_LINE.format(name=signum.name)], stderr[-3000:]
        assert "Logs written to" not in stdout
    logs = list(tmp_path.glob(f"{lesson}/*/*.log"))
    assert len(logs) == (3 if lesson == "14_keras_tuner" else 2), logs
    for log in logs:
        text = log.read_text()
        assert not any(fragment in text for fragment in CRASH_FRAGMENTS), (log.name, text[-2000:])
        assert "\x1b[" not in text, log.name
    if signum == signal.SIGTERM:
        # Loopback only, but for the ports that the launcher's one line names as open to the network (15's: TensorFlow
        # binds its servers to every interface); that line names exactly those.
        named = re.findall(r"^Note: TensorFlow opens .* ports ([0-9, ]+)\.", stdout, re.MULTILINE)
        named_ports = {int(port) for line in named for port in line.split(", ")}
        assert sockets, "no listening socket found"
        assert {port for address, port in sockets if not is_loopback(address)} == named_ports, (sockets, named)
        assert len(named) == (1 if lesson == "15_multi_worker" else 0), named
