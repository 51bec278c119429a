"""11_custom_scalars.py: a Custom Scalars layout whose charts find their tags, and a margin chart that holds."""

import re

import pytest
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata

from support import tb_read
from support.scripts import SCRIPT_ARGS

EPOCHS = int(SCRIPT_ARGS["11_custom_scalars.py"][1])


@pytest.fixture(scope="module")
def custom_scalars_run(run_script):
    return run_script("11_custom_scalars.py")


@pytest.fixture(scope="module")
def layout(custom_scalars_run):
    """The layout as the dashboard reads it: the first value of its config tag in the train run."""
    train = tb_read.load(custom_scalars_run.run_dir / "train")
    assert tb_read.plugin_tags(train, custom_scalar_metadata.PLUGIN_NAME) == {custom_scalar_metadata.CONFIG_SUMMARY_TAG}
    ((step, value),) = tb_read.tensor_values(train, custom_scalar_metadata.CONFIG_SUMMARY_TAG)
    assert step == 0
    return layout_pb2.Layout.FromString(value.item())


def charts(layout):
    return {chart.title: chart for category in layout.category for chart in category.chart}


def test_the_layout_has_a_train_vs_test_chart_per_metric_and_a_margin_chart(layout):
    assert [category.title for category in layout.category] == ["Train vs test", "Training batches"]
    by_title = charts(layout)
    assert list(by_title["loss"].multiline.tag) == ["^loss$"]
    assert list(by_title["accuracy"].multiline.tag) == ["^accuracy$"]
    (series,) = by_title["loss: epoch mean, lowest and highest batch"].margin.series
    assert (series.value, series.lower, series.upper) == ("loss", "batch_loss/lowest", "batch_loss/highest")


def test_every_multiline_chart_matches_one_epoch_series_in_train_and_in_test(layout, custom_scalars_run):
    for split in ("train", "test"):
        run = tb_read.load(custom_scalars_run.run_dir / split)
        scalar_tags = tb_read.plugin_tags(run, "scalars")
        for chart in charts(layout).values():
            if not chart.HasField("multiline"):
                continue
            # The dashboard's own matching: re.match of each regex against the run's scalar tags.
            matched = {tag for tag in scalar_tags for regex in chart.multiline.tag if re.match(regex, tag)}
            assert len(matched) == 1, (split, chart.title, matched)
            tb_read.assert_epoch_series(tb_read.scalar_series(run, matched.pop()), EPOCHS)


def test_the_margin_chart_has_lower_at_most_mean_at_most_upper_at_every_epoch(layout, custom_scalars_run):
    train = tb_read.load(custom_scalars_run.run_dir / "train")
    scalar_tags = tb_read.plugin_tags(train, "scalars")
    margins = [chart.margin for chart in charts(layout).values() if chart.HasField("margin")]
    assert margins
    for margin in margins:
        for series in margin.series:
            # The three tags of a margin series are looked up, exactly, in one run, at the same steps.
            assert {series.value, series.lower, series.upper} <= scalar_tags
            value, lower, upper = (
                tb_read.scalar_series(train, tag) for tag in (series.value, series.lower, series.upper)
            )
            for points in (value, lower, upper):
                tb_read.assert_epoch_series(points, EPOCHS)
            for (_, mean), (_, lowest), (_, highest) in zip(value, lower, upper, strict=True):
                assert lowest <= mean <= highest
                assert lowest < highest  # 16 batches of a fresh model never have equal losses


def test_the_training_loss_falls_and_accuracy_is_a_fraction(custom_scalars_run):
    train = tb_read.load(custom_scalars_run.run_dir / "train")
    losses = [value for _, value in tb_read.scalar_series(train, "loss")]
    assert losses[-1] < losses[0]
    for split in ("train", "test"):
        run = tb_read.load(custom_scalars_run.run_dir / split)
        assert all(0.0 <= value <= 1.0 for _, value in tb_read.scalar_series(run, "accuracy"))
    assert "tensorboard --logdir" in custom_scalars_run.stdout


def test_it_names_the_tab_to_open_in_a_sentence(custom_scalars_run):
    assert "Then open http://localhost:6006 and the Custom Scalars tab.\n" in custom_scalars_run.stdout
