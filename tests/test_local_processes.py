"""launcher.LocalProcesses, which starts the workers of 14 and 15: a failing or stalled child stops them all with a
one-line error, a child's lines are shown after its name, the finish countdown waits for the leader or the last
child, a second Ctrl-C kills them, and nothing is left running."""

import ctrl_c

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import launcher

from support.shared_checks import assert_no_process_left


def started(tmp_path, programs, show=True, if_killed=""):
    """LocalProcesses running one small Python program per name, from `programs` ({name: source}), started in that
    order (the first is the leader)."""
    processes = launcher.LocalProcesses("15_multi_worker", tmp_path, if_killed=if_killed)
    for name, source in programs.items():
        script = tmp_path / f"{name.replace(' ', '_')}.py"
        script.write_text(source)
        processes.script = script
        processes.start(name, [str(tmp_path)], {"MARK": "local-processes-test"}, show=show)
    return processes


SLEEPER = "import time\ntime.sleep(600)\n"


def test_a_child_that_fails_stops_the_others_with_a_one_line_error(tmp_path, capsys):
    programs = {"worker 0": SLEEPER, "worker 1": "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"}
    with pytest.raises(SystemExit) as stopped, started(tmp_path, programs) as processes:
        processes.wait(timeout=120)
    assert stopped.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: worker 1 stopped with exit status 3 (its last line: boom); the others were stopped")
    assert str(tmp_path / "worker-1.log") in line
    assert_no_process_left(str(tmp_path))


def test_a_child_killed_by_a_signal_is_named_with_its_signal_and_its_last_line_as_shown(tmp_path, capsys):
    program = "import os, signal, sys\nsys.stdout.write('\\x1b[1m1/8\\x1b[0m bar\\r\\x1b[1m8/8\\x1b[0m bar\\n')\n"
    program += "sys.stdout.flush()\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    with pytest.raises(SystemExit), started(tmp_path, {"worker 1": program}, if_killed="A known crash.") as processes:
        processes.wait(timeout=120)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: worker 1 was killed by SIGSEGV (its last line: 8/8 bar); the others were stopped")
    assert line.endswith(" A known crash.")


def test_the_known_crash_note_is_for_crash_signals_only(tmp_path, capsys):
    program = "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"
    with pytest.raises(SystemExit), started(tmp_path, {"worker 1": program}, if_killed="A known crash.") as processes:
        processes.wait(timeout=120)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: worker 1 was killed by SIGTERM") and "known crash" not in line


def test_a_port_that_was_taken_says_to_run_again(tmp_path, capsys):
    failing = "import sys\nprint('RuntimeError: Failed to bind to address', file=sys.stderr)\nsys.exit(1)\n"
    with pytest.raises(SystemExit), started(tmp_path, {"chief": failing}) as processes:
        processes.wait(timeout=120)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "could not listen on its port" in line and "run again" in line


def test_a_child_that_never_ends_is_stopped_at_the_timeout(tmp_path, capsys):
    with pytest.raises(SystemExit), started(tmp_path, {"worker 0": SLEEPER}) as processes:
        processes.wait(timeout=2)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: stopped worker 0, which did not finish in time")
    assert_no_process_left(str(tmp_path))


def test_a_worker_that_ends_early_does_not_start_the_finish_countdown(tmp_path, monkeypatch):
    # As a KerasTuner worker that finds no trial left while another still trains one, longer than the countdown.
    monkeypatch.setattr(launcher, "FINISH_TIMEOUT_SECONDS", 3)
    programs = {"chief": "import time\ntime.sleep(7)\n", "worker 1": "", "worker 2": "import time\ntime.sleep(5)\n"}
    with started(tmp_path, programs) as processes:
        processes.wait(timeout=120)
    assert [process.returncode for process, _ in processes.processes.values()] == [0, 0, 0]


@pytest.mark.parametrize("ended", [["chief"], ["worker 1", "worker 2"]])
def test_the_finish_countdown_starts_when_the_leader_or_all_but_one_ended(tmp_path, monkeypatch, capsys, ended):
    monkeypatch.setattr(launcher, "FINISH_TIMEOUT_SECONDS", 2)
    programs = {name: "" if name in ended else SLEEPER for name in ("chief", "worker 1", "worker 2")}
    with pytest.raises(SystemExit), started(tmp_path, programs) as processes:
        processes.wait(timeout=120)
    (line,) = capsys.readouterr().err.strip().splitlines()
    running = ", ".join(name for name in programs if name not in ended)
    assert line.startswith(f"error: stopped {running}, which did not finish in time")
    assert_no_process_left(str(tmp_path))


LAUNCHER = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
import ctrl_c, launcher

def main(argv):
    with launcher.LocalProcesses("15_multi_worker", {log_dir!r}) as processes:
        processes.script = Path({log_dir!r}) / "stubborn.py"
        processes.start("worker 0", [{log_dir!r}], {{}})
        processes.wait(timeout=600)

ctrl_c.run(main)
"""
# A child that takes its time to stop: it ignores SIGINT, so only a SIGKILL ends it.
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(600)\n"
)


def test_a_second_ctrl_c_kills_every_child_before_the_program_ends(tmp_path):
    (tmp_path / "stubborn.py").write_text(STUBBORN)
    program = tmp_path / "launcher.py"
    program.write_text(LAUNCHER.format(root=str(Path(launcher.__file__).parent), log_dir=str(tmp_path)))
    process = subprocess.Popen([sys.executable, str(program)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"worker 0 | ready\n"
        process.send_signal(signal.SIGINT)
        # The second Ctrl-C comes while stop() gives the child its grace (STOP_GRACE_SECONDS).
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == ctrl_c.EXIT_CTRL_C
    finally:
        process.kill()
        process.wait()
    assert process.stderr.read().decode().strip().splitlines() == [ctrl_c.STOPPED_LINE]
    assert_no_process_left(str(tmp_path / "stubborn.py"), timeout=2)


# A child that stops at once on SIGINT (Python's KeyboardInterrupt), as a lesson's child does at a safe point.
OBEDIENT = "import time\nprint('ready', flush=True)\ntry:\n    time.sleep(600)\nexcept KeyboardInterrupt:\n    pass\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_however_the_launcher_ends_its_children_end_with_it(tmp_path, signum):
    # SIGTERM and SIGHUP: the launcher stops them and says so in one line; SIGKILL: no handler runs, and the child
    # ends by its parent-death signal (Linux).
    (tmp_path / "stubborn.py").write_text(OBEDIENT)
    program = tmp_path / "launcher.py"
    program.write_text(LAUNCHER.format(root=str(Path(launcher.__file__).parent), log_dir=str(tmp_path)))
    process = subprocess.Popen([sys.executable, str(program)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"worker 0 | ready\n"
        process.send_signal(signum)
        code = process.wait(timeout=launcher.STOP_GRACE_SECONDS + 5)
    finally:
        process.kill()
        process.wait()
    assert_no_process_left(str(tmp_path / "stubborn.py"), timeout=5)
    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 128 + signum
        expected = launcher.STOPPED_BY_SIGNAL_LINE.format(name=signum.name)
        assert process.stderr.read().decode().strip().splitlines() == [expected]


def test_leaving_the_block_stops_every_child(tmp_path):
    with pytest.raises(KeyboardInterrupt), started(tmp_path, {"worker 0": SLEEPER, "worker 1": SLEEPER}):
        raise KeyboardInterrupt
    assert_no_process_left(str(tmp_path), timeout=1)


def test_a_childs_whole_lines_are_shown_after_its_name_and_kept_in_its_log_as_plain_text(tmp_path, capsys):
    # A progress bar redraws its line after a carriage return, in colour; the chief's bar is still being drawn
    # when the worker prints: no line may run into another, and the log holds what a terminal would have shown.
    bar = "sys.stdout.write('\\x1b[1m1/2\\x1b[0m bar\\r\\x1b[1m2/2\\x1b[0m bar')\nsys.stdout.flush()\n"
    chief = f"import sys, time\nprint('first')\n{bar}time.sleep(1.5)\nprint(' done')\nsys.stdout.write('last')\n"
    worker = "import time\ntime.sleep(0.5)\nprint('worker line')\n"
    with started(tmp_path, {"chief": chief, "worker 1": worker}, show=True) as processes:
        processes.wait(timeout=120)
    shown = capsys.readouterr().out
    assert shown.splitlines() == ["chief | first", "worker 1 | worker line", "chief | 2/2 bar done", "chief | last"]
    assert (tmp_path / "chief.log").read_text() == "first\n2/2 bar done\nlast\n"


def test_free_ports_are_different_and_free(tmp_path):
    import socket

    ports = launcher.free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as probe:
            probe.bind((launcher.LOCALHOST, port))


def test_a_child_runs_the_lessons_own_file_also_from_another_directory(tmp_path, monkeypatch):
    # A notebook has no __file__, and its kernel may run anywhere: the script is found next to launcher.py.
    monkeypatch.chdir(tmp_path)
    assert launcher.LocalProcesses("15_multi_worker", tmp_path).script == launcher.script_path("15_multi_worker")
    assert launcher.script_path("14_keras_tuner").is_file()
