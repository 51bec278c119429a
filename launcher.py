"""
Starting, watching and stopping the local processes of 14_keras_tuner.py and 15_multi_worker.py.

- `LocalProcesses`: a chief and workers on this machine, each `python <lesson>.py` with its own environment and log,
  their lines shown after their names; a failing or stalled one stops them all with a one-line error;
- however the launcher ends, every process it started ends too: Ctrl-C, SIGTERM and SIGHUP (a closed terminal)
  stop them all and end the launcher with one line and the shell's usual exit status; a launcher killed outright
  (SIGKILL) takes them with it on Linux, where each one asks the system for a signal when its parent dies;
- `free_ports` on this machine, `script_path` of a lesson, `shared_flags`: the command line that makes a child
  train as the launcher would, and `print_open_ports`, the one line on ports that TensorFlow opens to the network.

It imports the plumbing and ctrl_c of this repository, nothing else of it.
"""

import ctrl_c

import codecs
import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import plumbing

LOCALHOST = "localhost"
# After a Ctrl-C, a worker that died or a timeout, each process gets this long to stop by itself (its own Ctrl-C
# handling closes its summary writers) before it is killed.
STOP_GRACE_SECONDS = 10
# Once the leader (the first process started: 14's chief, 15's worker 0) or every process but one has ended well,
# the others must end within this time: a KerasTuner chief waits up to 20 s between its checks that every worker
# is done, and a stalled worker (keras-team/keras-tuner#915) never ends. A worker that ends earlier says nothing:
# a KerasTuner worker ends when no trial is left, while the others may still train one for a long time.
FINISH_TIMEOUT_SECONDS = 180
# The signals of a crash, for which the one-line error adds `if_killed` (not SIGKILL or SIGTERM from elsewhere).
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT)
# What a process that could not listen on its port says in its log (gRPC, through TensorFlow or KerasTuner).
PORT_TAKEN_FRAGMENTS = ("Address already in use", "Failed to bind to address", "Could not start gRPC server")
# The signals that ask a program to end, besides Ctrl-C: SIGTERM (`kill`, a system shutting down) and SIGHUP (its
# terminal was closed). The launcher stops every process it started, says so in one line and ends as the shell
# expects (128 + the signal's number: 143, 129).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else (signal.SIGTERM,)
STOPPED_BY_SIGNAL_LINE = "Stopped by {name}: everything logged so far is kept."
# Where the docs say what to do about ports that TensorFlow opens to the network.
OPEN_PORTS_DOCS = 'docs/limitations.md ("Ports open to the network")'
# Linux's prctl option that has the system send a process a signal when its parent ends (<sys/prctl.h>).
PR_SET_PDEATHSIG = 1
# Terminal colour and cursor codes (ESC [ ... letter), which a log file shows as raw text.
TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def free_ports(count):
    """`count` different TCP ports that nothing on this machine listens on right now."""
    probes = []
    try:
        # All bound at once, so that the system gives `count` different ports.
        for _ in range(count):
            probe = socket.socket()
            probes.append(probe)
            probe.bind((LOCALHOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    except OSError as error:
        plumbing.fail(f"cannot find a free port on {LOCALHOST}: {error.strerror or error}")
    finally:
        for probe in probes:
            probe.close()


def print_open_ports(ports, what):
    """Prints one line: TensorFlow listens on `ports` on every network interface, where it lets no program choose."""
    print(
        f"Note: TensorFlow opens {what} to the network, not only to this machine (it lets no program choose): ports "
        f"{', '.join(map(str, ports))}. On a network you do not trust, see {OPEN_PORTS_DOCS}."
    )


def script_path(lesson):
    """The file of a numbered script, `<repository>/<lesson>.py`: what a child process runs, also when the lesson
    itself runs in a notebook (which has no `__file__`)."""
    return Path(__file__).resolve().parent / f"{Path(lesson).stem}.py"


def shared_flags(args):
    """The shared flags of `args` as a command line, for a child process that must train as this one would (with
    the dataset that `auto` became here, so that every process loads the same data)."""
    flags = ["--dataset", plumbing.resolve_dataset(args.dataset), "--epochs", str(args.epochs)]
    flags += ["--batch-size", str(args.batch_size), "--logdir", str(args.logdir), "--seed", str(args.seed)]
    return flags + (["--quick"] if args.quick else [])


def _end_with_parent():
    """Runs in each child between fork and exec (Linux): the system kills the child when the launcher ends, even
    by SIGKILL, which no handler sees. SIGKILL, so that a child blocked in TensorFlow's or gRPC's C++ code ends at
    once, and quietly: its log ends with its last line, and every summary it wrote is already on disk."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# Loaded once, before any child is forked: a child only calls it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


class LocalProcesses:
    """Child processes of one lesson on this machine, each `python <lesson>.py <argv>` with its own environment.

    Use it as a context manager: leaving the block (at the end, on Ctrl-C, on an error) stops every process that
    is still running. Each process runs in a session of its own, so a Ctrl-C in the terminal reaches only the
    launcher, which then stops them (each gets a SIGINT, as if Ctrl-C were pressed in its own terminal, then a
    SIGKILL after STOP_GRACE_SECONDS). SIGTERM and SIGHUP to the launcher do the same, then end it with one line.
    Each process's output goes to `<log_dir>/<name>.log`, as plain text; the lines it prints on stdout are also
    shown here, whole lines only, after its name, if it was started with `show=True`.
    """

    def __init__(self, lesson, log_dir, if_killed=""):
        """`if_killed`: what to add to the one-line error when a process is killed by a crash signal (a known crash)."""
        self.script = script_path(lesson)
        self.if_killed = if_killed
        self.log_dir = Path(log_dir)
        self.processes = {}  # name -> (Popen, log path)
        self.relays = []
        self.previous_handlers = {}

    def __enter__(self):
        # A second Ctrl-C while stop() gives them their grace ends this program at once: kill them first.
        ctrl_c.before_stopping_now(self.kill)
        # A program run from a terminal answers SIGTERM and SIGHUP by stopping its processes. Not in a notebook: the
        # kernel's own signals are left to it (the children still end with it, by their parent-death signal).
        if threading.current_thread() is threading.main_thread() and not ctrl_c.in_interactive_shell():
            for signum in STOP_SIGNALS:
                self.previous_handlers[signum] = signal.signal(signum, self._on_stop_signal)
        return self

    def __exit__(self, *exc_info):
        try:
            self.stop()
        finally:
            ctrl_c.no_longer_before_stopping_now(self.kill)
            for signum, handler in self.previous_handlers.items():
                signal.signal(signum, handler)
            self.previous_handlers = {}

    def _on_stop_signal(self, signum, frame):
        """SIGTERM or SIGHUP: stops every process, says so in one line, and ends with 128 + the signal's number.
        The same signal again while they stop kills them at once."""
        for other in STOP_SIGNALS:
            signal.signal(other, lambda *_: (self.kill(), os._exit(128 + signum)))
        name = signal.Signals(signum).name
        # A closed terminal (SIGHUP) takes stdout and stderr with it: nothing written to them may stop the stopping.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        self.stop()
        with contextlib.suppress(OSError, ValueError):
            print(f"\n{STOPPED_BY_SIGNAL_LINE.format(name=name)}", file=sys.stderr, flush=True)
        # At once, as after a Ctrl-C: Python's shutdown would tear TensorFlow down under its own threads.
        os._exit(128 + signum)

    def start(self, name, argv, environment, show=True):
        """Starts `python <lesson>.py *argv` with `environment` added to this process's own."""
        log_path = self.log_dir / f"{name.replace(' ', '-')}.log"
        log = open(log_path, "a", encoding="utf-8")  # closed by its relay thread
        # No colour codes: the child's stdout is a pipe to a log file (and `NO_COLOR` is what Keras' own
        # console utilities respect).
        env = {**os.environ, **environment, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        command = [sys.executable, str(self.script), *argv]
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,
                preexec_fn=_end_with_parent if _prctl is not None else None,
            )
        except BaseException:
            log.close()
            raise
        self.processes[name] = (process, log_path)
        relay = threading.Thread(target=self._relay, args=(name, process.stdout, log, show), daemon=True)
        relay.start()
        self.relays.append(relay)
        return process

    @staticmethod
    def _relay(name, stdout, log, show):
        """Copies a process's stdout into its log and, with `show`, here, each line after its name once it is
        whole: several processes print at once, and a line that is still being drawn (a progress bar redrawn after
        a carriage return) would run into theirs. Of a redrawn line, only its last state is shown and kept."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        with log, stdout:
            for chunk in iter(lambda: stdout.read1(65536), b""):
                *lines, pending = (pending + decoder.decode(chunk)).split("\n")
                LocalProcesses._write_lines(name, lines, log, show)
            if pending:
                LocalProcesses._write_lines(name, [pending], log, show)

    @staticmethod
    def _write_lines(name, lines, log, show):
        """Writes whole lines, as a terminal would have shown them: after their last carriage return, in plain text."""
        shown = [TERMINAL_CODES.sub("", line.rstrip("\r").split("\r")[-1]) for line in lines]
        log.write("".join(f"{line}\n" for line in shown))
        log.flush()
        if show and shown:
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.write("".join(f"{name} | {line}\n" for line in shown))
                sys.stdout.flush()

    def wait(self, timeout):
        """Waits until every process has ended well; on a process that fails, or on a timeout (`timeout` seconds
        for the whole run, FINISH_TIMEOUT_SECONDS after the leader or all processes but one ended well), stops
        them all and ends the program with a one-line error that says what to do."""
        deadline = time.monotonic() + timeout
        while True:
            codes = {name: process.poll() for name, (process, _) in self.processes.items()}
            failed = [name for name, code in codes.items() if code not in (None, 0)]
            if failed:
                self.stop()
                plumbing.fail(self._failure(failed[0], codes[failed[0]]))
            if all(code == 0 for code in codes.values()):
                break
            leader_code = next(iter(codes.values()))
            if leader_code == 0 or list(codes.values()).count(0) >= len(codes) - 1:
                deadline = min(deadline, time.monotonic() + FINISH_TIMEOUT_SECONDS)
            if time.monotonic() > deadline:
                self.stop()
                running = ", ".join(name for name, code in codes.items() if code is None)
                plumbing.fail(f"stopped {running}, which did not finish in time; the logs are in {self.log_dir}")
            time.sleep(0.2)
        for relay in self.relays:
            relay.join(timeout=STOP_GRACE_SECONDS)

    def _failure(self, name, code):
        """The one-line error for a process that ended with `code`."""
        log_path = self.processes[name][1]
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        if any(fragment in log_text for fragment in PORT_TAKEN_FRAGMENTS):
            return f"{name} could not listen on its port (another program took it); run again, new ports are chosen"
        # The last line as a terminal would show it: after its last carriage return, without colour codes.
        shown = [TERMINAL_CODES.sub("", line.split("\r")[-1]) for line in log_text.split("\n")]
        last_lines = [line.strip() for line in shown if line.strip()]
        last = f" (its last line: {last_lines[-1][:200]})" if last_lines else ""
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"stopped with exit status {code}"
        known = f" {self.if_killed}" if -code in CRASH_SIGNALS and self.if_killed else ""
        return f"{name} {how}{last}; the others were stopped. Its log: {log_path}.{known}"

    def stop(self):
        """Stops every process still running: a SIGINT to its session, then a SIGKILL if it is still there."""
        running = [process for process, _ in self.processes.values() if process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for relay in self.relays:
            relay.join(timeout=STOP_GRACE_SECONDS)

    def kill(self):
        """Kills every process still running, at once (a SIGKILL to its session)."""
        for process, _ in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
