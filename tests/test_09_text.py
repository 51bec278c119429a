"""09_text.py: Markdown in the Text tab: a table of the held-out test images the model gets wrong, each epoch."""

import importlib
import re

import numpy as np
import pytest

import starter

from support import tb_read
from support.scripts import SCRIPT_ARGS

text_script = importlib.import_module("09_text")

EPOCHS = int(SCRIPT_ARGS["09_text.py"][1])
ROW = re.compile(r"^\| (\d+) \| (\S+) \| (\S+) \| ([0-9.]+) \|$", re.MULTILINE)
HEADING = re.compile(r"^Epoch (\d+): \*\*(\d+) of (\d+)\*\* held-out test images misclassified")


@pytest.fixture(scope="module")
def text_run(run_script):
    return run_script("09_text.py")


@pytest.fixture(scope="module")
def logged(text_run):
    run = tb_read.load(text_run.run_dir)
    return {
        tag: [(step, value.item().decode()) for step, value in tb_read.tensor_values(run, tag)]
        for tag in tb_read.plugin_tags(run, "text")
    }


def test_the_text_tab_has_settings_model_summary_and_one_mistakes_table_per_epoch(logged):
    assert set(logged) == {"settings", "model_summary", "mistakes"}
    assert [step for step, _ in logged["settings"]] == [0]
    assert [step for step, _ in logged["model_summary"]] == [0]
    assert [step for step, _ in logged["mistakes"]] == list(range(EPOCHS))


def test_settings_are_a_markdown_table_of_this_runs_flags(logged):
    ((_, settings),) = logged["settings"]
    lines = settings.splitlines()
    assert lines[:2] == ["| setting | value |", "|---|---|"]
    assert f"| epochs | {EPOCHS} |" in lines
    assert "| quick | True |" in lines
    assert any(line.startswith("| dataset | digits ") for line in lines)


def test_model_summary_is_a_fenced_code_block_with_every_layer(logged):
    ((_, summary),) = logged["model_summary"]
    lines = summary.splitlines()
    assert lines[0] == "```" and lines[-1] == "```"
    body = "\n".join(lines[1:-1])
    for layer in ("conv2d (Conv2D)", "features (Dense)", "logits (Dense)", "Total params"):
        assert layer in body
    assert len(lines) > 10  # one line per row of Keras's table, not one long line


def test_each_table_lists_real_test_split_mistakes_most_confident_first(logged):
    test_labels = np.concatenate(
        [labels.numpy() for _, labels in starter.load_dataset("digits", quick=True, verbose=False).test.batch(1000)]
    )
    class_names = [str(digit) for digit in range(10)]
    for step, table in logged["mistakes"]:
        heading = HEADING.match(table)
        assert heading, table[:200]
        assert int(heading.group(1)) == step + 1
        wrong, total = int(heading.group(2)), int(heading.group(3))
        assert total == len(test_labels)
        rows = ROW.findall(table)
        assert 0 < len(rows) == min(wrong, text_script.DEFAULT_MISTAKES)
        confidences = [float(confidence) for *_, confidence in rows]
        assert confidences == sorted(confidences, reverse=True)
        for index, true_class, predicted_class, confidence in rows:
            # The "true class" column is really that held-out image's label, and the prediction differs.
            assert true_class == class_names[test_labels[int(index)]]
            assert predicted_class != true_class
            # The predicted class is the most probable of 10, so its probability is at least 1/10.
            assert 0.1 <= float(confidence) <= 1.0


def test_mistakes_markdown_keeps_only_mistakes_sorted_and_limited():
    labels = np.array([0, 1, 2, 0, 1])
    probabilities = np.array(
        [
            [0.9, 0.1, 0.0],  # right
            [0.6, 0.3, 0.1],  # wrong, 0.6
            [0.1, 0.8, 0.1],  # wrong, 0.8
            [0.2, 0.7, 0.1],  # wrong, 0.7
            [0.1, 0.8, 0.1],  # right
        ]
    )
    table = text_script.mistakes_markdown(labels, probabilities, ["a", "b", "c"], limit=2, epoch=3)
    assert table.startswith("Epoch 3: **3 of 5** held-out test images misclassified (test accuracy 0.4000).")
    assert ROW.findall(table) == [("2", "c", "b", "0.8000"), ("3", "a", "b", "0.7000")]
    # A table needs a blank line before it, or Markdown reads it as part of the paragraph.
    assert "\n\n| test index | true class | predicted class | confidence |\n|---:|" in table
    no_mistakes = text_script.mistakes_markdown(labels[:1], probabilities[:1], ["a", "b", "c"], limit=2, epoch=1)
    assert "|" not in no_mistakes and "**0 of 1**" in no_mistakes


def test_each_epoch_says_how_many_mistakes_its_table_lists(text_run, logged):
    epoch_line = r"^  test accuracy [0-9.]+; the table lists (\d+) of the (\d+) mistakes$"
    printed = re.findall(epoch_line, text_run.stdout, re.M)
    assert len(printed) == EPOCHS
    for (listed, wrong), (_, table) in zip(printed, logged["mistakes"], strict=True):
        assert int(wrong) == int(HEADING.match(table).group(2))
        assert int(listed) == len(ROW.findall(table)) == min(int(wrong), text_script.DEFAULT_MISTAKES)


def test_more_mistakes_than_test_images_is_said_in_one_line(run_script):
    # --quick on digits holds 360 held-out test images.
    capped = run_script("09_text.py", "--epochs", "1", "--mistakes", "400")
    assert "Note: --mistakes 400 is more than the 360 held-out test images: each table lists every mistake." in (
        capped.stdout
    )
    table = tb_read.tensor_values(tb_read.load(capped.run_dir), "mistakes")[0][1].item().decode()
    assert len(ROW.findall(table)) == int(HEADING.match(table).group(2))


def test_the_run_prints_no_python_warnings_and_the_view_command(text_run):
    assert "Warning" not in text_run.stderr
    assert f"tensorboard --logdir {text_run.run_dir.parent}" in text_run.stdout
    assert "the Text tab" in text_run.stdout
