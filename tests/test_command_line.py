"""What every script does with bad input: a short error and a non-zero exit, no traceback.

Each script's own parser (its `make_parser()`) is checked in-process, which takes milliseconds; a few runs
as a learner runs them check that the scripts really use it, and that an unwritable logdir is one line.
"""

import importlib
import itertools

import pytest

import plumbing
import starter

from support.scripts import MAKES_ITS_OWN_DATA, ROOT, dataset_flags, run_python

NUMBERED_SCRIPTS = sorted(path.name for path in ROOT.glob("[0-9][0-9]_*.py"))
# 16_export.py trains nothing: of the shared flags it takes --logdir only (tests/test_16_export.py).
SCRIPTS = [*(script for script in NUMBERED_SCRIPTS if script != "16_export.py"), "starter.py"]
BAD_FLAGS = [["--epochs", "0"], ["--batch-size", "-1"], ["--dataset", "imagenet"], ["--epochs", "many"]]

# Each script's own flags, with a value its parser must refuse.
OWN_BAD_FLAGS = {
    "02_scalars_custom_loop.py": [["--learning-rates", "0"], ["--learning-rates", "0.1", "nan"]],
    "03_images.py": [["--grid-every", "0"], ["--grid-size", "-2"], ["--grid-size", "2000"]],
    "06_hparams.py": [["--trials", "0"], ["--trials", "many"]],
    "07_projector.py": [["--points", "0"]],
    "09_text.py": [["--mistakes", "0"]],
    "10_pr_curves.py": [["--num-thresholds", "1"], ["--num-thresholds", "many"]],
    "12_debugger.py": [["--learning-rate", "-1"], ["--max-steps", "0"]],
}


def script_parser(script):
    """The script's own parser, or None for a script that does not expose `make_parser()`."""
    make_parser = getattr(importlib.import_module(script.removesuffix(".py")), "make_parser", None)
    return make_parser and make_parser()


IN_PROCESS = [script for script in SCRIPTS if script_parser(script) is not None]
CASES = [
    (script, flag)
    for script in IN_PROCESS
    for flag in BAD_FLAGS + OWN_BAD_FLAGS.get(script, [])
    if not (script in MAKES_ITS_OWN_DATA and flag[0] == "--dataset")
]


@pytest.mark.parametrize(("script", "bad_flag"), CASES)
def test_bad_flag_values_are_an_argparse_error(script, bad_flag, capsys):
    with pytest.raises(SystemExit) as stopped:
        plumbing.parse_args(script_parser(script), bad_flag)
    assert stopped.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: argument {bad_flag[0]}" in last_line


@pytest.mark.parametrize("script", IN_PROCESS)
def test_every_script_takes_the_shared_flags(script):
    args = plumbing.parse_args(script_parser(script), ["--quick", *dataset_flags(script), "--batch-size", "32"])
    assert (args.quick, args.batch_size, args.epochs, args.logdir) == (True, 32, 1, "logs")
    assert getattr(args, "dataset", None) == (None if script in MAKES_ITS_OWN_DATA else "digits")


@pytest.mark.parametrize("script", sorted(MAKES_ITS_OWN_DATA))
def test_a_script_that_makes_its_own_data_refuses_dataset(script, capsys):
    # It would have nothing to do with it: one argparse error, not a flag that is silently ignored.
    with pytest.raises(SystemExit) as stopped:
        plumbing.parse_args(script_parser(script), ["--dataset", "digits"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --dataset digits" in capsys.readouterr().err.strip().splitlines()[-1]


# Scripts without `make_parser()` (none today) are checked as a learner runs them.
SUBPROCESS_CASES = [("01_callbacks.py", BAD_FLAGS[0])] + list(
    zip([script for script in SCRIPTS if script not in IN_PROCESS], itertools.cycle(BAD_FLAGS), strict=False)
)


@pytest.mark.parametrize(("script", "bad_flag"), SUBPROCESS_CASES)
def test_a_bad_flag_on_the_command_line_is_one_argparse_error(script, bad_flag):
    result = run_python(script, *bad_flag, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # The usage, then one error line; nothing ran.
    last_line = result.stderr.strip().splitlines()[-1]
    assert f"error: argument {bad_flag[0]}" in last_line
    assert result.stderr.count("error:") == 1 and "usage: " in result.stderr
    assert result.stdout == ""


def test_the_plumbing_loads_without_tensorflow():
    # plumbing.py's docstring says so: TensorFlow and Keras are imported inside the functions that use them.
    result = run_python("-c", "import sys, plumbing; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))")
    assert result.stdout.strip() == "[]", result.stderr[-2000:]


@pytest.mark.parametrize(("script", "extra"), [("01_callbacks.py", ())])
def test_an_unwritable_logdir_is_a_one_line_error(script, extra, tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    result = run_python(
        script, "--quick", "--dataset", "digits", "--logdir", str(blocker / "logs"), *extra, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot write logs under --logdir")


@pytest.mark.parametrize("script", IN_PROCESS)
def test_every_script_makes_its_run_directory_through_plumbing(script, tmp_path, capsys):
    """In-process: main() with an unwritable --logdir stops with the one-line error before any training."""
    if script == "starter.py":
        pytest.skip("the starter writes no logs")
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    module = importlib.import_module(script.removesuffix(".py"))
    with pytest.raises(SystemExit) as stopped:
        module.main(["--quick", *dataset_flags(script), "--logdir", str(blocker / "logs")])
    assert stopped.value.code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: cannot write logs under --logdir")


# The model.fit lessons train on the training data less its validation slice (starter.hold_out_validation).
TRAINS_ON_PART = {"01_callbacks.py", "06_hparams.py", "13_fit_callbacks.py"}

# Each of these says in one line, before it trains, when --batch-size is larger than its training data (through
# plumbing.note_large_batch). 05_graph.py trains nothing: its batch size only shapes the input of the traced graph.
NOTES_A_LARGE_BATCH = [
    "starter.py",
    "01_callbacks.py",
    "02_scalars_custom_loop.py",
    "03_images.py",
    "04_confusion_matrix.py",
    "06_hparams.py",
    "07_projector.py",
    "08_profiler.py",
    "09_text.py",
    "10_pr_curves.py",
    "11_custom_scalars.py",
    "12_debugger.py",
    "13_fit_callbacks.py",
    "18_mesh.py",
]


class NoteReachedError(Exception):
    """Stops a lesson right where it says that its batch is larger than its data."""


@pytest.mark.parametrize("script", NOTES_A_LARGE_BATCH)
def test_every_lesson_says_when_the_batch_is_larger_than_its_training_data(script, monkeypatch, tmp_path):
    calls = []

    def note_large_batch(batch_size, num_examples):
        calls.append((batch_size, num_examples))
        raise NoteReachedError

    monkeypatch.setattr(plumbing, "note_large_batch", note_large_batch)
    main = importlib.import_module(script.removesuffix(".py")).main
    with pytest.raises(NoteReachedError):
        main(["--quick", "--dataset", "digits", "--batch-size", "5000", "--logdir", str(tmp_path)])
    # The flag and the training images of --quick's subset, before anything was trained or logged.
    num_train = starter.QUICK_TRAIN_EXAMPLES
    if script in TRAINS_ON_PART:
        num_train -= round(num_train * starter.VALIDATION_FRACTION)
    assert calls == [(5000, num_train)]
    assert not list(tmp_path.iterdir())
