"""03_images.py: labelled grids of augmented images at the chosen cadence, and one raw batch."""

import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import tb_read
from conftest import SCRIPT_ARGS

import starter
import utils

GRID_EVERY = int(SCRIPT_ARGS["03_images.py"][1])
GRID_SIZE = int(SCRIPT_ARGS["03_images.py"][3])


@pytest.fixture(scope="module")
def images_run(run_script):
    return run_script("03_images.py")


def test_grids_are_logged_at_the_cadence_and_decode_at_the_grid_size(images_run):
    run = tb_read.load(images_run.run_dir)
    assert {"augmented_grid", "raw_batch"} <= tb_read.plugin_tags(run, "images")
    batches = math.ceil(starter.QUICK_TRAIN_EXAMPLES / 64)
    grids = tb_read.decoded_images(run, "augmented_grid")
    assert [step for step, _ in grids] == list(range(0, batches, GRID_EVERY))
    # The same figure, made by the same helper, has the size of the logged PNG.
    expected = utils.plot_to_image(utils.image_grid(np.zeros((GRID_SIZE, 8, 8, 1)), [0] * GRID_SIZE, "0"))
    for _, (png,) in grids:
        assert png.shape == tuple(expected.shape[1:])
        assert png.std() > 0, "the grid is blank"


def test_raw_batch_holds_max_outputs_images_of_the_dataset_size(images_run):
    run = tb_read.load(images_run.run_dir)
    ((step, pictures),) = tb_read.decoded_images(run, "raw_batch")
    assert step == 0
    assert len(pictures) == GRID_SIZE
    assert all(picture.shape == (8, 8, 1) for picture in pictures)


def test_it_prints_the_view_command_that_keeps_every_image(images_run):
    # A number: in TensorBoard 2.21 "images=0" shows no images at all.
    assert re.search(r"tensorboard --logdir \S+ --samples_per_plugin images=[1-9][0-9]*$", images_run.stdout, re.M)
    plt.close("all")
