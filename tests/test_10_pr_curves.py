"""10_pr_curves.py: one precision-recall curve per class on the held-out test split, each epoch."""

import numpy as np
import pytest
import tb_read
from conftest import SCRIPT_ARGS
from tensorboard.plugins.pr_curve import metadata

import starter

EPOCHS = int(SCRIPT_ARGS["10_pr_curves.py"][1])
CLASS_NAMES = [str(digit) for digit in range(10)]
NUM_THRESHOLDS = 201
# The held-out split that the --quick run on digits evaluates on.
NUM_TEST = starter.load_dataset("digits", quick=True, verbose=False).num_test


@pytest.fixture(scope="module")
def pr_run(run_script):
    return run_script("10_pr_curves.py")


@pytest.fixture(scope="module")
def test_run(pr_run):
    return tb_read.load(pr_run.run_dir / "test")


def test_one_pr_curve_tag_per_class_named_after_the_class(test_run):
    assert tb_read.plugin_tags(test_run, "pr_curves") == {f"{name}/pr_curves" for name in CLASS_NAMES}
    content = test_run.PluginTagToContent("pr_curves")["0/pr_curves"]
    assert metadata.parse_plugin_metadata(content).num_thresholds == NUM_THRESHOLDS


def test_each_curve_has_a_step_per_epoch_and_valid_counts_precision_and_recall(test_run):
    for name in CLASS_NAMES:
        series = tb_read.tensor_values(test_run, f"{name}/pr_curves")
        assert [step for step, _ in series] == list(range(EPOCHS))
        for _, data in series:
            assert data.shape == (6, NUM_THRESHOLDS)
            tp, fp, tn, fn, precision, recall = data
            assert np.all((precision >= 0) & (precision <= 1)) and np.all((recall >= 0) & (recall <= 1))
            # At threshold 0 every held-out image is predicted positive: TP + FP is the whole test split,
            # TP the class's own images, and recall is 1.
            assert tp[0] + fp[0] == NUM_TEST and fn[0] == 0 and tn[0] == 0 and recall[0] == 1
            # Raising the threshold only ever removes predicted positives.
            assert np.all(np.diff(tp) <= 0) and np.all(np.diff(fp) <= 0)
            np.testing.assert_allclose(tp + fn, tp[0])
            np.testing.assert_allclose(recall, tp / tp[0], atol=1e-6)


def test_the_positives_of_all_classes_add_up_to_the_test_split(test_run):
    # One-vs-rest: each test image is a positive of exactly one class.
    positives = [tb_read.tensor_values(test_run, f"{name}/pr_curves")[-1][1][0][0] for name in CLASS_NAMES]
    assert sum(positives) == NUM_TEST
    assert all(count > 0 for count in positives)


def test_the_curves_say_the_model_learned_something(test_run):
    # With real probabilities, precision at a 0.5 threshold beats the 1-in-10 of guessing for most classes.
    middle = NUM_THRESHOLDS // 2
    better = sum(tb_read.tensor_values(test_run, f"{name}/pr_curves")[-1][1][4][middle] > 0.1 for name in CLASS_NAMES)
    assert better >= 7


def test_the_run_prints_no_python_warnings_and_the_view_command(pr_run):
    assert "Warning" not in pr_run.stderr
    assert f"tensorboard --logdir {pr_run.run_dir.parent}" in pr_run.stdout
    assert "the PR Curves tab" in pr_run.stdout
