"""What every numbered script does with bad input: a short error and a non-zero exit, no traceback."""

import itertools

import pytest
from conftest import ROOT, run_python

NUMBERED_SCRIPTS = sorted(path.name for path in ROOT.glob("[0-9][0-9]_*.py"))
BAD_FLAGS = [["--epochs", "0"], ["--batch-size", "-1"], ["--dataset", "imagenet"], ["--epochs", "many"]]

# Every bad flag on the first script, and one bad flag (in turn) on each of the others: the flags are
# built in one place, so this covers each script's parser without starting TensorFlow 40 times.
CASES = [("01_callbacks.py", flag) for flag in BAD_FLAGS] + list(
    zip(NUMBERED_SCRIPTS[1:] + ["starter.py"], itertools.cycle(BAD_FLAGS), strict=False)
)


@pytest.mark.parametrize(("script", "bad_flag"), CASES)
def test_bad_flag_values_are_an_argparse_error(script, bad_flag):
    result = run_python(script, *bad_flag, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert f"error: argument {bad_flag[0]}" in last_line


@pytest.mark.parametrize("script", NUMBERED_SCRIPTS)
def test_an_unwritable_logdir_is_a_one_line_error(script, tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    result = run_python(script, "--quick", "--dataset", "digits", "--logdir", str(blocker / "logs"), timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot write logs under --logdir")
