"""Seeded runs are repeatable: the same flags give the same scalars, another --seed gives other ones.

01_callbacks.py stands for every lesson here: model.fit, dropout, the shuffled training pipeline and its random
augmentation, which runs in parallel calls of a map (starter.train_pipeline), all draw random numbers.
"""

import re
from pathlib import Path

from support import tb_read
from support.scripts import SCRIPT_ARGS, assert_quiet, run_python

SCRIPT = "01_callbacks.py"


def all_scalars(run_dir):
    """{(run, tag): [(step, value)]} of every scalar under `run_dir`, read as the Scalars tab reads them."""
    scalars = {}
    for events_dir in sorted({path.parent for path in run_dir.rglob("events.out.tfevents.*")}):
        run = tb_read.load(events_dir)
        for tag in tb_read.plugin_tags(run, "scalars"):
            scalars[(events_dir.relative_to(run_dir).as_posix(), tag)] = tb_read.scalar_series(run, tag)
    return scalars


def run_again(logdir, *extra_args):
    """Runs SCRIPT with the test session's flags (and `extra_args`) into `logdir`; returns its run directory."""
    flags = ("--quick", "--dataset", "digits", "--logdir", str(logdir), *SCRIPT_ARGS[SCRIPT], *extra_args)
    result = run_python(SCRIPT, *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_quiet(result.stderr)
    return Path(re.search(r"^Logs written to (.+)$", result.stdout, re.MULTILINE).group(1))


def test_the_same_flags_give_the_same_scalars_and_another_seed_other_ones(run_script, tmp_path):
    first = all_scalars(run_script(SCRIPT).run_dir)
    # Train and validation epoch curves, and the callback's evaluation and learning-rate tags.
    assert {("train", "epoch_loss"), ("validation", "epoch_accuracy")} <= set(first)
    assert all_scalars(run_again(tmp_path / "same_seed")) == first

    other = all_scalars(run_again(tmp_path / "other_seed", "--seed", "7"))
    assert other.keys() == first.keys()
    assert other[("train", "epoch_loss")] != first[("train", "epoch_loss")]
    assert other[("validation", "epoch_loss")] != first[("validation", "epoch_loss")]
