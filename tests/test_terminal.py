"""What a run prints before its lesson starts: TensorFlow's INFO lines and the cuInit line of a machine without an
NVIDIA driver are gone, warnings and errors still show (ctrl_c.py sets the log level, plumbing.py drops one line)."""

import ctrl_c

import os
import subprocess
import sys

import pytest

import plumbing

from support.scripts import ROOT, run_python

# A TensorFlow program that logs one line at each of C++'s levels INFO, WARNING and ERROR, after starting as every
# script does (ctrl_c first, then plumbing's GPU set-up). tf.print to absl's logging streams goes through
# TensorFlow's C++ logging, like TensorFlow's own messages.
LOGS_AT_EVERY_LEVEL = """
import ctrl_c
import plumbing
plumbing.configure_gpu()
import tensorflow as tf
for level in ("info", "warning", "error"):
    tf.print(f"deliberate {level} line", output_stream=getattr(tf.compat.v1.logging, level))
"""


def python_without_a_log_level(*args):
    """Runs `python *args` from the repository root as a learner would, with no TF_CPP_MIN_LOG_LEVEL of its own
    (this test process may have one: importing a lesson imports ctrl_c, which sets it)."""
    environment = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True)


@pytest.fixture(scope="module")
def started_as_a_script():
    result = python_without_a_log_level("-c", LOGS_AT_EVERY_LEVEL)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def test_real_warnings_and_errors_still_reach_stderr(started_as_a_script):
    lines = started_as_a_script.splitlines()
    assert any(line.startswith("E") and line.endswith("] deliberate error line") for line in lines), lines
    assert any(line.startswith("W") and line.endswith("] deliberate warning line") for line in lines), lines


def test_info_lines_do_not(started_as_a_script):
    assert "deliberate info line" not in started_as_a_script
    # TensorFlow's own INFO line at start-up, which it prints on every machine with a CPU it was not built for.
    assert "cpu_feature_guard" not in started_as_a_script


@pytest.mark.skipif(plumbing.has_nvidia_driver(), reason="with an NVIDIA driver a failing cuInit is a real error")
def test_no_cuinit_line_without_an_nvidia_driver(started_as_a_script):
    assert "cuInit" not in started_as_a_script


def test_a_log_level_the_user_set_is_kept():
    show = "import os, ctrl_c; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    assert python_without_a_log_level("-c", show).stdout.strip() == ctrl_c.QUIET_TENSORFLOW_LOG_LEVEL == "1"
    assert run_python("-c", show, env={"TF_CPP_MIN_LOG_LEVEL": "0"}).stdout.strip() == "0"


def test_only_the_named_lines_are_dropped_from_file_descriptor_2(capfd):
    with plumbing.without_stderr_lines(b"failed call to cuInit"):
        os.write(2, b"E0000 first error\nE0000 cuda_platform.cc:52] failed call to cuInit: (303)\nW0000 a warning\n")
    assert capfd.readouterr().err == "E0000 first error\nW0000 a warning\n"


def test_the_lines_come_out_even_when_the_block_fails(capfd):
    with pytest.raises(RuntimeError), plumbing.without_stderr_lines(b"cuInit"):
        os.write(2, b"F0000 Check failed: a real fatal message\n")
        raise RuntimeError("stopped")
    assert capfd.readouterr().err == "F0000 Check failed: a real fatal message\n"


def test_08_prints_no_profiler_info_lines(run_script):
    stderr = run_script("08_profiler.py").stderr
    assert "Profiler session" not in stderr and "Collecting XSpace" not in stderr, stderr
