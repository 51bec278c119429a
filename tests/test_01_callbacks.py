"""01_callbacks.py, run as a learner runs it, its logs read back with TensorBoard's readers."""

import json
import re

import numpy as np
import pytest

import starter

from support import tb_read
from support.scripts import SCRIPT_ARGS

EPOCHS = int(SCRIPT_ARGS["01_callbacks.py"][1])


@pytest.fixture(scope="module")
def callbacks_run(run_script):
    return run_script("01_callbacks.py")


def test_train_and_validation_runs_have_epoch_loss_and_accuracy(callbacks_run):
    for split in ("train", "validation"):
        tb_read.assert_epoch_scalars(callbacks_run.run_dir / split, ("epoch_loss", "epoch_accuracy"), EPOCHS)


def test_training_is_real_the_validation_accuracy_is_far_above_chance(callbacks_run):
    validation = tb_read.load(callbacks_run.run_dir / "validation")
    accuracy = [value for _, value in tb_read.scalar_series(validation, "epoch_accuracy")]
    # Measured: about 0.9 after three --quick epochs on digits; chance is 0.1.
    assert accuracy[-1] > 0.6
    printed = float(re.search(r"Validation accuracy after the last epoch: ([0-9.]+)", callbacks_run.stdout).group(1))
    assert printed == pytest.approx(accuracy[-1], abs=1e-4)
    train = tb_read.load(callbacks_run.run_dir / "train")
    losses = [value for _, value in tb_read.scalar_series(train, "epoch_loss")]
    assert losses[-1] < losses[0]


def correct_counts(accuracies, num_examples):
    """How many examples each accuracy counts as correct out of `num_examples`, or None where it is no such share."""
    counts = [accuracy * num_examples for accuracy in accuracies]
    return [round(count) if abs(count - round(count)) < 1e-3 else None for count in counts]


def test_the_validation_run_is_a_slice_of_the_training_data_not_the_test_split(callbacks_run):
    dataset = starter.load_dataset("digits", quick=True, verbose=False)
    _, validation_part = starter.hold_out_validation(dataset)
    num_validation, num_test = validation_part.num_test, dataset.num_test
    assert num_validation != num_test
    # An accuracy is (correct examples) / (examples measured): every logged validation accuracy must be a share
    # of the validation slice's examples. Had the callback measured the test split, the values would be shares of
    # num_test instead; both at once only for the few shares the two sizes have in common (0.2, 0.4, ...).
    validation = tb_read.load(callbacks_run.run_dir / "validation")
    accuracies = [value for _, value in tb_read.scalar_series(validation, "epoch_accuracy")]
    assert None not in correct_counts(accuracies, num_validation), (accuracies, num_validation)
    assert None in correct_counts(accuracies, num_test), (accuracies, num_test)


def test_the_test_split_is_measured_once_after_training_and_printed(callbacks_run):
    matches = re.findall(r"Test accuracy of the final model: ([0-9.]+) \(test loss ([0-9.]+)\)", callbacks_run.stdout)
    assert len(matches) == 1, callbacks_run.stdout
    test_accuracy = float(matches[0][0])
    assert 0.6 < test_accuracy <= 1.0
    # The training run's curves end before it: the test result is printed after the last epoch's line.
    assert callbacks_run.stdout.index("Test accuracy of the final model") > callbacks_run.stdout.index(
        "Validation accuracy after the last epoch"
    )


def test_histograms_of_every_weight_each_epoch(callbacks_run):
    train = tb_read.load(callbacks_run.run_dir / "train")
    histograms = tb_read.plugin_tags(train, "histograms")
    kernels = {tag for tag in histograms if tag.endswith("kernel/histogram")}
    assert len(kernels) == 4, histograms  # conv, conv, features, logits
    for tag in kernels:
        series = tb_read.tensor_values(train, tag)
        assert [step for step, _ in series] == list(range(EPOCHS))
        for _, buckets in series:
            # Each bucket is (left edge, right edge, count); the counts cover every weight.
            assert buckets.shape[1] == 3 and np.all(np.isfinite(buckets)) and buckets[:, 2].sum() > 0


def test_conceptual_keras_graph_is_logged(callbacks_run):
    train = tb_read.load(callbacks_run.run_dir / "train")
    assert "keras" in tb_read.plugin_tags(train, "graph_keras_model")
    ((step, config),) = tb_read.tensor_values(train, "keras")
    assert b"Conv2D" in config.item() and b"features" in config.item()


def test_it_prints_the_command_to_view_the_logs(callbacks_run):
    experiment_dir = callbacks_run.run_dir.parent
    assert f"tensorboard --logdir {experiment_dir}" in callbacks_run.stdout


def test_it_sends_the_learner_to_the_scalars_tab_in_a_plain_sentence(callbacks_run):
    assert re.search(r"^Then open http://localhost:6006 and the Scalars tab\.$", callbacks_run.stdout, re.MULTILINE)


def test_after_the_view_command_it_says_to_choose_the_conceptual_graph_of_the_logged_model(callbacks_run):
    # Keras 3 writes no op graph, which the Graphs tab asks for first ("Malformed GraphDef"): the learner must be
    # told to choose "Conceptual graph", and which node to open, in the lines after the command.
    after_the_command = callbacks_run.stdout.split("Logs written to", 1)[1]
    (hint,) = [line for line in after_the_command.splitlines() if "Graphs tab" in line]
    assert 'choose "Conceptual graph"' in hint and "Malformed GraphDef" in hint, hint
    node = re.search(r'double-click the "([^"]+)" node', hint).group(1)
    train = tb_read.load(callbacks_run.run_dir / "train")
    ((_, config),) = tb_read.tensor_values(train, "keras")
    assert json.loads(config.item())["config"]["name"] == node
