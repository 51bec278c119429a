"""04_confusion_matrix.py: one confusion-matrix image per epoch next to loss and accuracy scalars."""

import re

import numpy as np
import pytest

from support import tb_read
from support.scripts import SCRIPT_ARGS

EPOCHS = int(SCRIPT_ARGS["04_confusion_matrix.py"][1])


@pytest.fixture(scope="module")
def confusion_run(run_script):
    return run_script("04_confusion_matrix.py")


def test_one_decodable_confusion_matrix_per_epoch(confusion_run):
    test = tb_read.load(confusion_run.run_dir / "test")
    assert "confusion_matrix" in tb_read.plugin_tags(test, "images")
    matrices = tb_read.decoded_images(test, "confusion_matrix")
    assert [step for step, _ in matrices] == list(range(EPOCHS))
    for _, (png,) in matrices:
        assert png.ndim == 3 and png.shape[0] >= 400 and png.shape[1] >= 400
        assert png.std() > 0


def test_loss_and_accuracy_per_epoch_for_train_and_test(confusion_run):
    for split in ("train", "test"):
        tb_read.assert_epoch_scalars(confusion_run.run_dir / split, ("loss", "accuracy"), EPOCHS)


def printed_epoch_means(stdout):
    """[(loss, accuracy)] as the terminal shows them at the end of each epoch: the last update of each progress bar.

    The bar redraws itself on one line, each update after a carriage return, with colour codes and backspaces;
    what stays on the screen is the text after the last carriage return, and the last update is the one whose
    count reached the total ("16/16").
    """
    means = []
    for line in stdout.split("\n"):
        shown = re.sub(r"\x1b\[[0-9;]*m|\x08", "", line.split("\r")[-1])
        match = re.match(r"\s*(\d+)/\1 .* - loss: (\S+) - accuracy: (\S+)$", shown)
        if match:
            means.append((match.group(2), match.group(3)))
    return means


def test_the_terminal_shows_each_epoch_the_loss_and_accuracy_tensorboard_shows(confusion_run):
    train = tb_read.load(confusion_run.run_dir / "train")
    logged = zip(tb_read.scalar_series(train, "loss"), tb_read.scalar_series(train, "accuracy"), strict=True)
    # As the progress bar formats them: four decimals.
    expected = [(f"{loss:.4f}", f"{accuracy:.4f}") for (_, loss), (_, accuracy) in logged]
    assert len(expected) == EPOCHS
    assert printed_epoch_means(confusion_run.stdout) == expected


def test_per_class_accuracies_weighted_by_class_size_equal_the_logged_test_accuracy(confusion_run):
    rows = re.findall(r"^\s+(\S+): ([0-9.]+) of (\d+) test images$", confusion_run.stdout, re.MULTILINE)
    assert [name for name, _, _ in rows] == [str(digit) for digit in range(10)]
    accuracy = np.array([float(value) for _, value, _ in rows])
    counts = np.array([int(count) for _, _, count in rows])
    assert np.all((accuracy >= 0) & (accuracy <= 1))
    test = tb_read.load(confusion_run.run_dir / "test")
    final_accuracy = tb_read.scalar_series(test, "accuracy")[-1][1]
    # The diagonal of a counts matrix is exactly the correct predictions, so this holds to rounding.
    assert np.sum(accuracy * counts) / counts.sum() == pytest.approx(final_accuracy, abs=1e-3)


def test_it_sends_the_learner_to_the_images_tab_in_a_plain_sentence(confusion_run):
    assert re.search(r"^Then open http://localhost:6006 and the Images tab\.$", confusion_run.stdout, re.MULTILINE)
