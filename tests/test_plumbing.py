"""The plumbing every script shares (plumbing.py): flags, run directories and the `auto` dataset choice."""

import argparse
import shlex
import socket
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer import event_file_writer

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


def printed_commands(output):
    """The `--logdir` directory and other words of the "View them:" and "To compare ..." commands printed."""
    commands = {}
    for line in output.splitlines():
        label, _, command = line.partition(":  ")
        if label in ("View them", "To compare it with earlier runs"):
            # What a learner pastes into a shell: shlex.split reads it as a POSIX shell would.
            commands[label] = shlex.split(command.split("  (")[0])
    return commands


def test_the_view_command_round_trips_through_the_shell_with_a_space_in_the_path(tmp_path, capsys):
    run_dir = plumbing.new_run_dir(tmp_path / "my logs", "01_callbacks")
    plumbing.print_view_command(run_dir, "Scalars", "--samples_per_plugin images=1000")
    commands = printed_commands(capsys.readouterr().out)
    assert commands["View them"] == ["tensorboard", "--logdir", str(run_dir), "--samples_per_plugin", "images=1000"]
    assert commands["To compare it with earlier runs"] == [
        "tensorboard",
        "--logdir",
        str(run_dir.parent),
        "--samples_per_plugin",
        "images=1000",
    ]


def write_runs(run_dir, names):
    """One event file, with one scalar, in each of `run_dir`/<name>: what TensorBoard counts as a run each."""
    for name in names:
        writer = event_file_writer.EventFileWriter(str(run_dir / name))
        value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0)
        writer.add_event(event_pb2.Event(step=0, summary=summary_pb2.Summary(value=[value])))
        writer.close()


def runs_tensorboard_finds(logdir):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    return len(multiplexer.Runs())


def test_after_four_runs_the_view_command_still_opens_on_at_most_40_runs(tmp_path, capsys):
    # Four runs of a lesson that writes 15 TensorBoard runs each (02's train, test and its learning rates' runs).
    names = ["train", "test", *(f"lr_{rate}/{split}" for rate in range(6) for split in ("train", "test")), "extra"]
    for _ in range(4):
        run_dir = plumbing.new_run_dir(tmp_path / "logs", "02_scalars_custom_loop")
        write_runs(run_dir, names)
    assert runs_tensorboard_finds(run_dir.parent) == 60
    plumbing.print_view_command(run_dir, "Scalars")
    printed = capsys.readouterr().out
    commands = printed_commands(printed)
    view_dir = Path(commands["View them"][2])
    assert view_dir == run_dir and runs_tensorboard_finds(view_dir) == 15 <= plumbing.MAX_RUNS_TICKED
    # The comparison names the lesson's directory, and says how to tick its 60 runs.
    compare_line = [line for line in printed.splitlines() if line.startswith("To compare")][0]
    assert Path(commands["To compare it with earlier runs"][2]) == run_dir.parent
    assert '(60 runs: above 40, the run list ticks none: click "Toggle all runs" under it)' in compare_line
    assert "Toggle all runs" not in printed.replace(compare_line, "")


def test_a_run_that_holds_more_than_40_runs_says_so_where_it_says_the_tab(tmp_path, capsys):
    run_dir = plumbing.new_run_dir(tmp_path, "06_hparams")
    write_runs(run_dir, [f"trial_{number}/{split}" for number in range(36) for split in ("train", "validation")])
    plumbing.print_view_command(run_dir, "HParams")
    (tab_line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Then open")]
    assert tab_line.endswith(
        'the HParams tab (72 runs: above 40, the run list ticks none: click "Toggle all runs" under it).'
    )


def test_the_whole_curve_note_comes_after_the_tab_line_when_asked_for(tmp_path, capsys):
    run_dir = plumbing.new_run_dir(tmp_path, "01_callbacks")
    plumbing.print_view_command(run_dir, "Scalars")
    assert "Ignore outliers" not in capsys.readouterr().out
    plumbing.print_view_command(run_dir, "Scalars", whole_curve_note=True)
    lines = capsys.readouterr().out.splitlines()
    tab_line = [number for number, line in enumerate(lines) if line.startswith("Then open")][0]
    assert lines[tab_line + 1] == (
        'If a curve is cut off at the top, untick "Ignore outliers in chart scaling" (top left) to see it all.'
    )


@pytest.mark.parametrize("script", ["01_callbacks.py", "02_scalars_custom_loop.py"])
def test_the_lessons_with_short_runs_say_how_to_see_the_whole_curve(run_script, script):
    assert plumbing.WHOLE_CURVE_NOTE in run_script(script).stdout.splitlines()


def test_a_script_prints_the_command_that_shows_its_own_run(run_script):
    run = run_script("05_graph.py")
    commands = printed_commands(run.stdout)
    assert Path(commands["View them"][2]) == run.run_dir
    assert 0 < runs_tensorboard_finds(run.run_dir) <= plumbing.MAX_RUNS_TICKED
    assert Path(commands["To compare it with earlier runs"][2]) == run.run_dir.parent


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
