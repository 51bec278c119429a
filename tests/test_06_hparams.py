"""06_hparams.py: the experiment config, one row per trial of every run, selection on a validation split.

The script's own code is tested: its parser, its trial choice and its validation split, imported as a module.
"""

import collections
import importlib
import itertools
import re

import numpy as np
import pytest
import tb_read
from conftest import assert_quiet, run_python
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard_server import running_tensorboard

import plumbing
import starter

hparams_script = importlib.import_module("06_hparams")

METRIC_TAGS = {"validation_accuracy", "validation_loss"}
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def experiment_config(experiment_dir):
    run = tb_read.load(experiment_dir)
    content = run.SummaryMetadata(hparams_metadata.EXPERIMENT_TAG).plugin_data.content
    return hparams_metadata.parse_experiment_plugin_data(content)


def session_start_info(trial_dir):
    run = tb_read.load(trial_dir)
    content = run.SummaryMetadata(hparams_metadata.SESSION_START_INFO_TAG).plugin_data.content
    return hparams_metadata.parse_session_start_info_plugin_data(content)


def session_hparams(trial_dir):
    """The hparam values of one trial, as the dashboard reads them: {name: value}."""
    return {name: value.number_value for name, value in session_start_info(trial_dir).hparams.items()}


@pytest.fixture(scope="module")
def hparams_run(run_script):
    return run_script("06_hparams.py")


def test_the_experiment_declares_three_hparams_and_the_validation_metrics(hparams_run):
    config = experiment_config(hparams_run.run_dir)
    assert {hparam.name for hparam in config.hparam_infos} == {"units", "dropout", "learning_rate"}
    assert {metric.name.tag for metric in config.metric_infos} == METRIC_TAGS


def test_every_trial_has_its_hparams_and_finite_validation_metrics(hparams_run):
    trial_dirs = sorted(path for path in hparams_run.run_dir.iterdir() if path.is_dir())
    assert len(trial_dirs) == 2
    grid = hparams_script.all_trials()
    expected = [grid[0], grid[-1]]
    for trial_dir, trial in zip(trial_dirs, expected, strict=True):
        values = session_hparams(trial_dir)
        assert values == pytest.approx({hparam.name: value for hparam, value in trial.items()})
        run = tb_read.load(trial_dir)
        assert not {"test_accuracy", "test_loss"} & tb_read.plugin_tags(run, "scalars")
        for tag in METRIC_TAGS:
            ((_, value),) = tb_read.scalar_series(run, tag)
            assert np.isfinite(value)
        ((_, accuracy),) = tb_read.scalar_series(run, "validation_accuracy")
        assert 0.0 <= accuracy <= 1.0


def test_the_best_trial_by_validation_is_measured_on_the_test_split_once(hparams_run):
    trial_dirs = {path.name: path for path in hparams_run.run_dir.iterdir() if path.is_dir()}
    best = re.search(
        r"^Best of the 2 trials by validation accuracy: (\S+) \(([0-9.]+)\)$", hparams_run.stdout, re.MULTILINE
    )
    assert best and best.group(1) in trial_dirs
    logged = {
        name: tb_read.scalar_series(tb_read.load(path), "validation_accuracy")[0][1]
        for name, path in trial_dirs.items()
    }
    assert logged[best.group(1)] == max(logged.values())
    assert float(best.group(2)) == pytest.approx(max(logged.values()), abs=1e-4)
    tested = re.findall(r"^Its accuracy on the held-out test split: ([0-9.]+)", hparams_run.stdout, re.MULTILINE)
    assert len(tested) == 1 and 0.0 <= float(tested[0]) <= 1.0
    # No trial is scored on the test split before the selection.
    assert "test" not in hparams_run.stdout.split("Best of")[0].replace("held-out test images", "")


# ----- The validation split: held out of the training data, stratified, fixed --------------------------


@pytest.fixture(scope="module")
def quick_digits():
    return starter.load_dataset("digits", quick=True, verbose=False)


def _examples(data):
    images, labels = (tensor.numpy() for tensor in data.batch(100_000).get_single_element())
    return images, labels


def _as_rows(images, labels):
    return collections.Counter((image.tobytes(), int(label)) for image, label in zip(images, labels, strict=True))


def test_the_validation_slice_comes_out_of_the_training_data_and_is_stratified(quick_digits):
    training_part, validation_part = starter.hold_out_validation(quick_digits)
    train_images, train_labels = _examples(training_part.train)
    validation_images, validation_labels = _examples(validation_part.test)
    assert len(train_labels) == training_part.num_train
    assert len(validation_labels) == validation_part.num_test
    assert len(validation_labels) == round(quick_digits.num_train * starter.VALIDATION_FRACTION)
    # Together they are exactly the training examples, each once; the test split is not touched.
    everything = _as_rows(*_examples(quick_digits.train))
    assert _as_rows(train_images, train_labels) + _as_rows(validation_images, validation_labels) == everything
    # Stratified: each class's share of the validation slice is its share of the training data, within one image.
    counts = np.bincount(validation_labels, minlength=10)
    expected = np.bincount(_examples(quick_digits.train)[1], minlength=10) * len(validation_labels) / len(everything)
    assert np.all(np.abs(counts - expected) <= 1.0), (counts, expected)


def test_the_validation_slice_is_the_same_in_every_run(quick_digits):
    first = _examples(starter.hold_out_validation(quick_digits)[1].test)
    second = _examples(starter.hold_out_validation(quick_digits)[1].test)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_a_tfds_dataset_holds_out_the_last_slice_of_its_training_split(quick_digits):
    # The tensorflow_datasets path only slices: any Dataset not named "digits" takes it.
    as_tfds = quick_digits.__class__(**{**quick_digits.__dict__, "name": "mnist"})
    training_part, validation_part = starter.hold_out_validation(as_tfds)
    all_images, all_labels = _examples(quick_digits.train)
    assert np.array_equal(_examples(training_part.train)[1], all_labels[: training_part.num_train])
    assert np.array_equal(_examples(validation_part.test)[1], all_labels[training_part.num_train :])


# ----- Trial choice and flags, through the script's own parser ------------------------------------------


def _args(argv):
    return plumbing.parse_args(hparams_script.make_parser(), argv)


def _names(args_list):
    return [
        hparams_script.trial_name(*trial) for argv in args_list for trial in hparams_script.choose_trials(_args(argv))
    ]


def test_the_default_is_the_full_grid_of_36_trials():
    assert len(_names([[]])) == 36 == len(set(_names([[]])))


def test_quick_runs_the_two_corners_of_the_grid():
    assert [name[:8] for name in _names([["--quick"]])] == ["trial-00", "trial-35"]


@pytest.mark.parametrize("extra", [[], ["--trials", "10"]])
@pytest.mark.parametrize("count", [2, 3])
def test_shards_cover_the_trials_exactly_once(extra, count):
    whole = _names([extra])
    sharded = _names([[*extra, "--shard", f"{index}/{count}"] for index in range(1, count + 1)])
    assert sorted(sharded) == sorted(whole)


def test_a_random_sample_is_a_subset_of_the_grid():
    sample = _names([["--trials", "10"]])
    assert len(set(sample)) == 10 and set(sample) <= set(_names([[]]))


@pytest.mark.parametrize("argv", [["--shard", "0/2"], ["--shard", "3/2"], ["--shard", "1"], ["--trials", "0"]])
def test_bad_flags_of_its_own_are_an_argparse_error(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        _args(argv)
    assert stopped.value.code == 2
    assert f"error: argument {argv[0]}" in capsys.readouterr().err.strip().splitlines()[-1]


def test_grid_order_is_the_product_of_the_domains():
    units, dropout, rate = (param.domain.values for param in hparams_script.HPARAMS)
    expected = [
        dict(zip(hparams_script.HPARAMS, combo, strict=True)) for combo in itertools.product(units, dropout, rate)
    ]
    assert hparams_script.all_trials() == expected


# ----- Two runs and two shards in one logdir, as the dashboard shows them -------------------------------


@pytest.fixture(scope="module")
def several_runs(tmp_path_factory):
    """Two plain --quick runs, then the two shards of one --experiment, all into one logdir."""
    logdir = tmp_path_factory.mktemp("hparams-logs")
    common = ["06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(logdir)]
    outputs = []
    for extra in ([], [], ["--experiment", "sweep", "--shard", "1/2"], ["--experiment", "sweep", "--shard", "2/2"]):
        result = run_python(*common, *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        assert_quiet(result.stderr)
        outputs.append(result.stdout)
    return logdir, outputs


def test_every_trial_of_every_run_is_its_own_row_in_the_real_dashboard(several_runs):
    logdir, _ = several_runs
    experiment_root = logdir / "06_hparams"
    runs = sorted(path.name for path in experiment_root.iterdir())
    assert len(runs) == 3 and "sweep" in runs
    # The logdir the scripts' view command opens.
    with running_tensorboard(experiment_root) as server:
        request = {
            "experimentName": "",
            "allowedStatuses": ALL_STATUSES,
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 100,
        }
        server.wait_until(
            lambda: len(server.post("/data/plugin/hparams/session_groups", request)["sessionGroups"]) == 6,
            what="six session groups",
        )
        groups = server.post("/data/plugin/hparams/session_groups", request)["sessionGroups"]
        experiment = server.post("/data/plugin/hparams/experiment", {"experimentName": ""})
    assert {info["name"]["tag"] for info in experiment["metricInfos"]} == METRIC_TAGS
    # Six rows: two per plain run and one per shard; each is one session, with both validation metrics.
    assert len({group["name"] for group in groups}) == 6
    for group in groups:
        assert len(group["sessions"]) == 1, group
        assert {metric["name"]["tag"] for metric in group["metricValues"]} == METRIC_TAGS
        assert all(np.isfinite(metric["value"]) for metric in group["metricValues"])
    per_run = collections.Counter(group["sessions"][0]["name"].split("/")[0] for group in groups)
    assert per_run == {run: 2 for run in runs}


def test_each_shard_prints_its_best_and_how_to_pick_the_overall_best(several_runs):
    _, outputs = several_runs
    for stdout in outputs[2:]:
        assert re.search(r"^Best of this shard's 1 trials by validation accuracy: trial-", stdout, re.MULTILINE)
        assert len(re.findall(r"^Its accuracy on the held-out test split: ", stdout, re.MULTILINE)) == 1
        assert "sort the HParams table by it" in stdout
    for stdout in outputs[:2]:
        assert "Each shard" not in stdout


def test_a_shard_run_again_refuses_to_overwrite_its_trial(several_runs):
    logdir, _ = several_runs
    common = ["06_hparams.py", "--quick", "--dataset", "digits", "--logdir", str(logdir)]
    again = run_python(*common, "--experiment", "sweep", "--shard", "1/2")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines()[-1].startswith("error:") and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    config = experiment_config(logdir / "06_hparams" / "sweep")
    assert {hparam.name for hparam in config.hparam_infos} == {"units", "dropout", "learning_rate"}
