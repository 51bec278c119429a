"""The plumbing every script shares (plumbing.py): flags, run directories and the `auto` dataset choice."""

import argparse
import shlex
import socket
import time
from pathlib import Path

import pytest

import plumbing


def _closed_local_port():
    """A localhost port nothing listens on: connections are refused at once, like an offline network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline(monkeypatch):
    """Simulates a machine without CIFAR-10 in its cache and without a network."""
    monkeypatch.setattr(plumbing, "is_cached", lambda name: False)
    url = f"http://127.0.0.1:{_closed_local_port()}/data.tar.gz"
    monkeypatch.setattr(plumbing, "DOWNLOAD_URLS", {name: url for name in plumbing.DOWNLOAD_URLS})


def test_auto_falls_back_to_digits_within_seconds_with_one_warning(offline, capsys):
    started = time.monotonic()
    assert plumbing.resolve_dataset("auto") == "digits"
    assert time.monotonic() - started < 5
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1
    assert warning[0].startswith("warning:") and "--dataset cifar10" in warning[0]


def test_a_named_dataset_that_cannot_be_had_fails_fast_with_one_line(offline, capsys):
    started = time.monotonic()
    with pytest.raises(SystemExit) as stopped:
        plumbing.resolve_dataset("cifar10")
    assert stopped.value.code == 1
    assert time.monotonic() - started < 5
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: cifar10 is not cached")


def test_auto_uses_cifar10_when_it_is_cached(monkeypatch):
    monkeypatch.setattr(plumbing, "is_cached", lambda name: name == "cifar10")
    assert plumbing.resolve_dataset("auto") == "cifar10"


def test_can_connect_gives_up_quickly_on_a_name_that_does_not_resolve():
    started = time.monotonic()
    assert not plumbing.can_connect("https://no-such-host.invalid/data", timeout=1.0)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("text", ["0", "-3", "two", "1.5"])
def test_positive_int_rejects_what_is_not_a_positive_whole_number(text):
    with pytest.raises(argparse.ArgumentTypeError):
        plumbing.positive_int(text)


@pytest.mark.parametrize("text", ["0", "-1e-3", "nan", "inf", "fast"])
def test_positive_float_rejects_what_is_not_a_positive_number(text):
    with pytest.raises(argparse.ArgumentTypeError):
        plumbing.positive_float(text)


def test_a_batch_larger_than_the_data_is_said_in_one_line_and_only_then(capsys):
    assert plumbing.note_large_batch(64, 1024) is False
    assert plumbing.note_large_batch(1024, 1024) is False
    assert capsys.readouterr().out == ""
    assert plumbing.note_large_batch(2000, 1024) is True
    assert capsys.readouterr().out == (
        "Note: --batch-size 2000 is larger than the 1,024 training images, so every epoch is a single batch of "
        "1,024 (one step per epoch).\n"
    )


def test_quick_means_one_epoch_unless_epochs_is_given():
    parser = plumbing.make_parser("test", epochs=5)
    assert plumbing.parse_args(parser, []).epochs == 5
    assert plumbing.parse_args(parser, ["--quick"]).epochs == 1
    assert plumbing.parse_args(parser, ["--quick", "--epochs", "3"]).epochs == 3


def test_new_run_dir_never_reuses_a_directory(tmp_path):
    first = plumbing.new_run_dir(tmp_path, "01_callbacks.py")
    (first / "keep.txt").write_text("earlier run")
    second = plumbing.new_run_dir(tmp_path, "01_callbacks.py")
    assert first != second
    assert first.parent == second.parent == tmp_path / "01_callbacks"
    assert (first / "keep.txt").read_text() == "earlier run"
    assert list(second.iterdir()) == []


def test_new_run_dir_on_an_unwritable_logdir_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(SystemExit) as stopped:
        plumbing.new_run_dir(blocker / "logs", "01_callbacks.py")
    assert stopped.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: cannot write logs under --logdir")


def test_the_view_command_round_trips_through_the_shell_with_a_space_in_the_path(tmp_path, capsys):
    run_dir = plumbing.new_run_dir(tmp_path / "my logs", "01_callbacks")
    plumbing.print_view_command(run_dir, "Scalars", "--samples_per_plugin images=1000")
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("View them:")]
    # What a learner pastes into a shell: shlex.split reads it as a POSIX shell would.
    command = shlex.split(line.removeprefix("View them:"))
    assert command == ["tensorboard", "--logdir", str(run_dir.parent), "--samples_per_plugin", "images=1000"]


def test_a_kernel_command_line_is_never_taken_for_a_lesson_s_flags(monkeypatch):
    # A Jupyter kernel runs as `python -m ipykernel_launcher -f kernel.json`: a lesson's main() with no flags given
    # parses none, so its defaults apply.
    monkeypatch.setattr("sys.argv", ["/venv/lib/python3.11/site-packages/ipykernel_launcher.py", "-f", "k.json"])
    assert plumbing.default_argv() == []
    assert plumbing.parse_args(plumbing.make_parser("test"), None).logdir == "logs"


def test_a_script_of_this_repository_being_run_parses_its_command_line(monkeypatch):
    # `python 02_scalars_custom_loop.py --quick` from any directory, or IPython's `%run` of the same file.
    script = Path(plumbing.__file__).resolve().parent / "02_scalars_custom_loop.py"
    monkeypatch.setattr("sys.argv", [str(script), "--quick", "--epochs", "3"])
    assert plumbing.default_argv() == ["--quick", "--epochs", "3"]
    args = plumbing.parse_args(plumbing.make_parser("test"), None)
    assert (args.quick, args.epochs) == (True, 3)
