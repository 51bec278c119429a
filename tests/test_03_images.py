"""03_images.py: the same images before and after augmentation, their difference, and labelled grids a few times
an epoch."""

import importlib
import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

import starter
import utils

from support import tb_read
from support.scripts import SCRIPT_ARGS
from support.shared_checks import assert_before_and_after_are_the_same_images, first_training_images

GRID_SIZE = int(SCRIPT_ARGS["03_images.py"][1])
# --quick's 1,024 digits in batches of 64.
BATCHES = math.ceil(starter.QUICK_TRAIN_EXAMPLES / 64)

images_script = importlib.import_module("03_images")


@pytest.fixture(scope="module")
def images_run(run_script):
    return run_script("03_images.py")


def test_the_same_images_before_and_after_augmentation_at_the_same_step(images_run):
    run = tb_read.load(images_run.run_dir)
    ((before_step, before),) = tb_read.decoded_images(run, "first_images/before_augmentation")
    ((after_step, after),) = tb_read.decoded_images(run, "first_images/after_augmentation")
    assert before_step == after_step == 0
    images, labels, class_names = first_training_images(GRID_SIZE)
    assert_before_and_after_are_the_same_images(before, after, images)
    # Augmentation changed something: not every image came out as it went in.
    assert any(not np.array_equal(one, other) for one, other in zip(before, after, strict=True))
    # Both tags name the same classes, in order: the labels of those images.
    expected = ", ".join(class_names[label] for label in labels)
    for tag in ("first_images/before_augmentation", "first_images/after_augmentation"):
        assert run.SummaryMetadata(tag).summary_description.endswith(f"in order: {expected}")


def test_the_difference_shows_after_minus_before_amplified_around_mid_grey(images_run):
    run = tb_read.load(images_run.run_dir)
    ((_, before),) = tb_read.decoded_images(run, "first_images/before_augmentation")
    ((_, after),) = tb_read.decoded_images(run, "first_images/after_augmentation")
    ((step, difference),) = tb_read.decoded_images(run, "first_images/after_minus_before")
    assert step == 0 and len(difference) == GRID_SIZE
    change = np.stack(after).astype(float) - np.stack(before).astype(float)
    expected = 127.5 + 127.5 * change / np.abs(change).max()
    # Up to the rounding of three 8-bit PNGs, amplified: about 5 grey levels on digits' largest change of 0.1.
    assert np.abs(np.stack(difference) - expected).max() <= 8
    # The largest change reaches white or black: a shift of a few grey levels becomes plain to see.
    assert np.abs(np.stack(difference).astype(float) - 127.5).max() >= 120
    assert "mid-grey is unchanged" in run.SummaryMetadata("first_images/after_minus_before").summary_description


def grid_steps(run_dir):
    return [step for step, _ in tb_read.decoded_images(tb_read.load(run_dir), "augmented_grid")]


def test_by_default_a_grid_about_five_times_an_epoch(images_run):
    run = tb_read.load(images_run.run_dir)
    assert tb_read.plugin_tags(run, "images") == {
        "augmented_grid",
        "first_images/before_augmentation",
        "first_images/after_augmentation",
        "first_images/after_minus_before",
    }
    every = math.ceil(BATCHES / images_script.GRIDS_PER_EPOCH)
    assert grid_steps(images_run.run_dir) == list(range(0, BATCHES, every))
    assert len(grid_steps(images_run.run_dir)) >= 3, "a default run must give the step slider something to slide"
    assert f"grid(s) of {GRID_SIZE} augmented images, one every {every} of {BATCHES} batches" in images_run.stdout


def test_grid_every_overrides_the_cadence(run_script):
    run = run_script("03_images.py", "--grid-every", "2", "--grid-size", "4")
    assert grid_steps(run.run_dir) == list(range(0, BATCHES, 2))
    assert "one every 2 of 16 batches" in run.stdout


def test_a_grid_larger_than_the_data_shows_all_of_it_and_says_so(capsys):
    assert images_script.images_to_show(16, 1024) == 16
    assert capsys.readouterr().out == ""
    assert images_script.images_to_show(80, 50) == 50
    assert capsys.readouterr().out == "Note: --grid-size 80 is more than the 50 training images: showing all 50.\n"


def test_a_batch_smaller_than_the_grid_is_raised_to_it_and_said(capsys):
    assert images_script.grid_batch_size(64, 25) == 64
    assert images_script.grid_batch_size(25, 25) == 25
    assert capsys.readouterr().out == ""
    assert images_script.grid_batch_size(1, 25) == 25
    assert capsys.readouterr().out == (
        "Note: --batch-size 1 is smaller than a grid of 25 images: the grids come from batches of 25.\n"
    )


def test_batch_size_1_draws_its_grids_from_batches_of_the_grid_size_and_says_so(run_script):
    run = run_script("03_images.py", "--batch-size", "1", "--grid-size", "4", "--grid-every", "100")
    assert "Note: --batch-size 1 is smaller than a grid of 4 images: the grids come from batches of 4." in run.stdout
    # Batches of 4: 256 of them an epoch, so a grid every 100 batches is at steps 0, 100 and 200 (batches of 1
    # would have gone on to steps 300 ... 1000).
    batches = math.ceil(starter.QUICK_TRAIN_EXAMPLES / 4)
    assert grid_steps(run.run_dir) == list(range(0, batches, 100))
    assert f"one every 100 of {batches} batches" in run.stdout


def test_grids_decode_at_the_grid_size(images_run):
    run = tb_read.load(images_run.run_dir)
    grids = tb_read.decoded_images(run, "augmented_grid")
    # The same figure, made by the same helper, has the size of the logged PNG.
    expected = utils.plot_to_image(utils.image_grid(np.zeros((GRID_SIZE, 8, 8, 1)), [0] * GRID_SIZE, "0"))
    for _, (png,) in grids:
        assert png.shape == tuple(expected.shape[1:])
        assert png.std() > 0, "the grid is blank"


def test_before_and_after_hold_max_outputs_images_of_the_dataset_size(images_run):
    run = tb_read.load(images_run.run_dir)
    for tag in ("first_images/before_augmentation", "first_images/after_augmentation"):
        ((step, pictures),) = tb_read.decoded_images(run, tag)
        assert step == 0
        assert len(pictures) == GRID_SIZE
        assert all(picture.shape == (8, 8, 1) for picture in pictures)


def test_it_prints_the_view_command_that_keeps_every_image(images_run):
    # A number: in TensorBoard 2.21 "images=0" shows no images at all.
    assert re.search(r"tensorboard --logdir \S+ --samples_per_plugin images=[1-9][0-9]*$", images_run.stdout, re.M)
    plt.close("all")


def test_it_sends_the_learner_to_the_images_tab_in_a_plain_sentence(images_run):
    assert re.search(r"^Then open http://localhost:6006 and the Images tab\.$", images_run.stdout, re.MULTILINE)
