"""10_pr_curves.py: one precision-recall curve per class on the held-out test split, each epoch."""

import importlib

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.pr_curve import metadata

import starter

from support import tb_read
from support.scripts import SCRIPT_ARGS

pr_script = importlib.import_module("10_pr_curves")

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


# ----- pr_curve_summaries -------------------------------------------------------------------------------

PR_CLASS_NAMES = ["zero", "one", "two"]
# Five examples of three classes; each row sums to 1 and no probability sits on a threshold of the 5-point grid.
PR_LABELS = [0, 0, 1, 2, 1]
PR_PROBABILITIES = [
    [0.9, 0.05, 0.05],
    [0.6, 0.3, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.2, 0.7],
    [0.4, 0.45, 0.15],
]


def _pr_data(summary):
    """The (6, num_thresholds) tensor of a PR-curve summary, as the PR Curves tab reads it."""
    from tensorboard.util import tensor_util

    (value,) = summary.value
    return tensor_util.make_ndarray(value.tensor)


def test_pr_curve_summaries_give_one_tag_per_class_named_after_it_with_the_pr_curves_plugin():
    from tensorboard.plugins.pr_curve import metadata

    summaries = pr_script.pr_curve_summaries(PR_LABELS, PR_PROBABILITIES, PR_CLASS_NAMES, num_thresholds=5)
    assert [summary.value[0].tag for summary in summaries] == ["zero/pr_curves", "one/pr_curves", "two/pr_curves"]
    for summary in summaries:
        plugin_data = summary.value[0].metadata.plugin_data
        assert plugin_data.plugin_name == "pr_curves"
        assert metadata.parse_plugin_metadata(plugin_data.content).num_thresholds == 5
        assert _pr_data(summary).shape == (6, 5)


def test_pr_curve_summaries_hold_the_hand_computed_counts_precision_and_recall():
    summaries = pr_script.pr_curve_summaries(PR_LABELS, PR_PROBABILITIES, PR_CLASS_NAMES, num_thresholds=5)
    tp, fp, tn, fn, precision, recall = _pr_data(summaries[0])
    # Class "zero": positives score 0.9 and 0.6, negatives 0.3, 0.1 and 0.4. At each threshold
    # t = 0, 0.25, 0.5, 0.75, 1 an example is predicted positive when its score is at least t.
    np.testing.assert_array_equal(tp, [2, 2, 2, 1, 0])
    np.testing.assert_array_equal(fp, [3, 2, 0, 0, 0])
    np.testing.assert_array_equal(tn, [0, 1, 3, 3, 3])
    np.testing.assert_array_equal(fn, [0, 0, 0, 1, 2])
    # Nothing is predicted positive at t = 1: the summary stores precision 0 there.
    np.testing.assert_allclose(precision, [2 / 5, 2 / 4, 1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(recall, [1, 1, 1, 0.5, 0], atol=1e-6)
    # Class "two" has one positive (0.7) among four negatives (0.05, 0.1, 0.1, 0.15).
    tp, fp, _, _, precision, recall = _pr_data(summaries[2])
    np.testing.assert_array_equal(tp, [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(fp, [4, 0, 0, 0, 0])
    np.testing.assert_allclose(precision, [1 / 5, 1, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(recall, [1, 1, 1, 0, 0], atol=1e-6)


def test_pr_curve_summaries_agree_with_sklearn_precision_recall_curve():
    from sklearn.metrics import precision_recall_curve

    rng = np.random.default_rng(0)
    num_classes, num_thresholds = 4, 11
    labels = rng.integers(0, num_classes, 300)
    probabilities = rng.dirichlet(np.ones(num_classes), 300)
    # Make the scores informative, so the curves are not flat.
    probabilities[np.arange(300), labels] += 0.5
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = [f"class_{index}" for index in range(num_classes)]
    summaries = pr_script.pr_curve_summaries(labels, probabilities, names, num_thresholds=num_thresholds)
    for class_index, summary in enumerate(summaries):
        *_, precision, recall = _pr_data(summary)
        scores = probabilities[:, class_index].astype(np.float32)
        sk_precision, sk_recall, sk_thresholds = precision_recall_curve(labels == class_index, scores)
        compared = 0
        for k, threshold in enumerate(np.linspace(0, 1, num_thresholds)):
            # scikit-learn's curve has a point at every distinct score; "score >= t" predicts the same
            # examples positive as "score >= the smallest score that is at least t".
            at_or_above = np.flatnonzero(sk_thresholds >= threshold)
            if len(at_or_above) == 0:
                continue
            point = at_or_above[0]
            assert precision[k] == pytest.approx(sk_precision[point], abs=1e-6)
            assert recall[k] == pytest.approx(sk_recall[point], abs=1e-6)
            compared += 1
        assert compared >= 5
        assert np.all((precision >= 0) & (precision <= 1)) and np.all((recall >= 0) & (recall <= 1))


def test_pr_curve_summaries_written_with_write_raw_pb_are_read_back_by_tensorboard(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(2):
            for summary in pr_script.pr_curve_summaries(PR_LABELS, PR_PROBABILITIES, PR_CLASS_NAMES, num_thresholds=5):
                tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)
    writer.close()
    run = tb_read.load(tmp_path)
    assert tb_read.plugin_tags(run, "pr_curves") == {f"{name}/pr_curves" for name in PR_CLASS_NAMES}
    series = tb_read.tensor_values(run, "zero/pr_curves")
    assert [step for step, _ in series] == [0, 1]
    np.testing.assert_allclose(series[0][1][4], [2 / 5, 2 / 4, 1, 1, 0], atol=1e-6)


def test_pr_curve_summaries_reject_logits_and_a_wrong_number_of_classes():
    with pytest.raises(ValueError, match="softmax"):
        pr_script.pr_curve_summaries([0, 1], [[2.0, -1.0, 0.5], [0.1, 3.0, -2.0]], PR_CLASS_NAMES)
    with pytest.raises(ValueError, match="shape"):
        pr_script.pr_curve_summaries([0, 1], [[0.5, 0.5], [0.5, 0.5]], PR_CLASS_NAMES)
