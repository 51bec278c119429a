"""06_hparams.py: the experiment config and one session per trial, read with the HParams plugin's parsers."""

import importlib
import itertools
import re

import numpy as np
import pytest
import tb_read
from tensorboard.plugins.hparams import metadata as hparams_metadata

hparams_script = importlib.import_module("06_hparams")


def experiment_config(experiment_dir):
    run = tb_read.load(experiment_dir)
    content = run.SummaryMetadata(hparams_metadata.EXPERIMENT_TAG).plugin_data.content
    return hparams_metadata.parse_experiment_plugin_data(content)


def session_hparams(trial_dir):
    """The hparam values of one trial, as the dashboard reads them: {name: value}."""
    run = tb_read.load(trial_dir)
    content = run.SummaryMetadata(hparams_metadata.SESSION_START_INFO_TAG).plugin_data.content
    start_info = hparams_metadata.parse_session_start_info_plugin_data(content)
    return {name: value.number_value for name, value in start_info.hparams.items()}


@pytest.fixture(scope="module")
def hparams_run(run_script):
    return run_script("06_hparams.py")


def test_the_experiment_declares_three_hparams_and_both_metrics(hparams_run):
    config = experiment_config(hparams_run.run_dir)
    assert {hparam.name for hparam in config.hparam_infos} == {"units", "dropout", "learning_rate"}
    assert {metric.name.tag for metric in config.metric_infos} == {"test_accuracy", "test_loss"}


def test_every_trial_has_its_hparams_and_finite_held_out_metrics(hparams_run):
    trial_dirs = sorted(path for path in hparams_run.run_dir.iterdir() if path.is_dir())
    assert len(trial_dirs) == 2
    grid = hparams_script.all_trials()
    expected = [grid[0], grid[-1]]
    for trial_dir, trial in zip(trial_dirs, expected, strict=True):
        values = session_hparams(trial_dir)
        assert values == pytest.approx({hparam.name: value for hparam, value in trial.items()})
        run = tb_read.load(trial_dir)
        for tag in ("test_accuracy", "test_loss"):
            ((_, value),) = tb_read.scalar_series(run, tag)
            assert np.isfinite(value)
        ((_, accuracy),) = tb_read.scalar_series(run, "test_accuracy")
        assert 0.0 <= accuracy <= 1.0
    best = re.search(r"^Best of the 2 trials: (\S+) with test accuracy ([0-9.]+)$", hparams_run.stdout, re.MULTILINE)
    assert best and best.group(1) in {path.name for path in trial_dirs}


def _names(args_list):
    parser_args = [hparams_script.plumbing.parse_args(_parser(), args) for args in args_list]
    return [hparams_script.trial_name(*trial) for args in parser_args for trial in hparams_script.choose_trials(args)]


def _parser():
    parser = hparams_script.plumbing.make_parser("test", epochs=1)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard", type=hparams_script.shard, default=(1, 1))
    return parser


def test_the_default_is_the_full_grid_of_36_trials():
    assert len(_names([[]])) == 36 == len(set(_names([[]])))


@pytest.mark.parametrize("extra", [[], ["--trials", "10"]])
@pytest.mark.parametrize("count", [2, 3])
def test_shards_cover_the_trials_exactly_once(extra, count):
    whole = _names([extra])
    sharded = _names([[*extra, "--shard", f"{index}/{count}"] for index in range(1, count + 1)])
    assert sorted(sharded) == sorted(whole)


def test_a_random_sample_is_a_subset_of_the_grid():
    sample = _names([["--trials", "10"]])
    assert len(set(sample)) == 10 and set(sample) <= set(_names([[]]))


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b"])
def test_bad_shards_are_rejected(text):
    with pytest.raises(hparams_script.argparse.ArgumentTypeError):
        hparams_script.shard(text)


def test_two_shard_processes_fill_one_shared_experiment(tmp_path):
    from conftest import run_python

    common = ["06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(tmp_path), "--experiment", "sweep"]
    for shard in ("1/2", "2/2"):
        result = run_python(*common, "--shard", shard)
        assert result.returncode == 0, result.stderr[-2000:]
    experiment_dir = tmp_path / "06_hparams" / "sweep"
    trial_dirs = sorted(path for path in experiment_dir.iterdir() if path.is_dir())
    assert [path.name[:8] for path in trial_dirs] == ["trial-00", "trial-35"]
    assert {hparam.name for hparam in experiment_config(experiment_dir).hparam_infos} == {
        "units",
        "dropout",
        "learning_rate",
    }
    # Running a shard again refuses to overwrite the trial it already logged.
    again = run_python(*common, "--shard", "1/2")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1].startswith("error:") and "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_grid_order_is_the_product_of_the_domains():
    units, dropout, rate = (param.domain.values for param in hparams_script.HPARAMS)
    expected = [
        dict(zip(hparams_script.HPARAMS, combo, strict=True)) for combo in itertools.product(units, dropout, rate)
    ]
    assert hparams_script.all_trials() == expected
