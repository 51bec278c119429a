"""Every numbered script into ONE logdir, then the real TensorBoard server and a real browser on it.

Event files that parse are not yet a working tab: this asks the server, through the same HTTP API its web
page reads, whether each dashboard is active and holds the right script's data.
"""

import contextlib
import importlib
import json
import re
import shutil
import time

import pytest
import tensorflow as tf

from support.scripts import SCRIPT_ARGS
from support.shared_checks import assert_before_and_after_are_the_same_images, first_training_images
from tensorboard_server import CHROMIUM_FLAGS, running_tensorboard

EPOCHS_01 = int(SCRIPT_ARGS["01_callbacks.py"][1])
EPOCHS_04 = int(SCRIPT_ARGS["04_confusion_matrix.py"][1])
EPOCHS_09 = int(SCRIPT_ARGS["09_text.py"][1])
EPOCHS_10 = int(SCRIPT_ARGS["10_pr_curves.py"][1])
EPOCHS_11 = int(SCRIPT_ARGS["11_custom_scalars.py"][1])
EPOCHS_13 = int(SCRIPT_ARGS["13_fit_callbacks.py"][1])
PLUGIN = "/data/plugin"


@pytest.fixture(scope="module")
def runs(run_script, shared_logdir):
    """{script: its run directory's name relative to the logdir}, after every script has run."""
    return {script: str(run_script(script).run_dir.relative_to(shared_logdir)) for script in SCRIPT_ARGS}


@pytest.fixture(scope="module")
def server(runs, shared_logdir):
    expected = [f"{runs['01_callbacks.py']}/train", f"{runs['07_projector.py']}", f"{runs['05_graph.py']}/model"]
    # The flag the image scripts print, so that every image is served.
    with running_tensorboard(shared_logdir, "--samples_per_plugin", "images=1000", expected_runs=expected) as tb:
        yield tb


def test_every_tab_the_scripts_teach_is_active(server):
    wanted = ["scalars", "images", "graphs", "distributions", "histograms", "hparams", "projector", "profile"]
    wanted += ["text", "pr_curves", "audio", "mesh"]
    # The Projector decides in the background whether it is active, so ask until it has.
    server.wait_until(lambda: all(server.get("/data/plugins_listing")[name]["enabled"] for name in wanted))


def test_scalars_of_01_02_and_04(server, runs):
    tags = server.get(f"{PLUGIN}/scalars/tags")
    assert {"epoch_loss", "epoch_accuracy"} <= set(tags[f"{runs['01_callbacks.py']}/train"])
    assert {"loss", "accuracy"} <= set(tags[f"{runs['02_scalars_custom_loop.py']}/test"])
    assert "batch_loss" in tags[f"{runs['02_scalars_custom_loop.py']}/lr_0.001/train"]
    assert {"loss", "accuracy"} <= set(tags[f"{runs['04_confusion_matrix.py']}/test"])
    points = server.get(f"{PLUGIN}/scalars/scalars", run=f"{runs['01_callbacks.py']}/validation", tag="epoch_accuracy")
    assert [step for _, step, _ in points] == list(range(EPOCHS_01))
    assert all(0.0 <= value <= 1.0 for _, _, value in points)


def served_images(server, run, tag, samples):
    """{step: [the PNG of each sample, decoded]} of an images tag, as the Images tab loads them."""
    pictures = {}
    for sample in range(samples):
        for entry in server.get(f"{PLUGIN}/images/images", run=run, tag=tag, sample=sample):
            png = server.get(f"{PLUGIN}/images/individualImage?{entry['query']}", raw=True)
            pictures.setdefault(entry["step"], []).append(tf.io.decode_png(png).numpy())
    return pictures


def test_images_of_03_and_04(server, runs):
    tags = server.get(f"{PLUGIN}/images/tags")
    assert {
        "augmented_grid",
        "first_images/before_augmentation",
        "first_images/after_augmentation",
        "first_images/after_minus_before",
    } <= set(tags[runs["03_images.py"]])
    grid_size = int(SCRIPT_ARGS["03_images.py"][1])
    for tag in (
        "first_images/before_augmentation",
        "first_images/after_augmentation",
        "first_images/after_minus_before",
    ):
        assert tags[runs["03_images.py"]][tag]["samples"] == grid_size
    # The two tags hold the same images, at the same step: as stored, and as augmentation changed them.
    before = served_images(server, runs["03_images.py"], "first_images/before_augmentation", grid_size)
    after = served_images(server, runs["03_images.py"], "first_images/after_augmentation", grid_size)
    assert list(before) == list(after) == [0]
    assert_before_and_after_are_the_same_images(before[0], after[0], first_training_images(grid_size)[0])
    matrices = server.get(
        f"{PLUGIN}/images/images", run=f"{runs['04_confusion_matrix.py']}/test", tag="confusion_matrix"
    )
    assert [entry["step"] for entry in matrices] == list(range(EPOCHS_04))
    png = server.get(f"{PLUGIN}/images/individualImage?{matrices[-1]['query']}", raw=True)
    assert png.startswith(b"\x89PNG")


def test_graphs_conceptual_from_01_and_op_graphs_from_05(server, runs):
    info = server.get(f"{PLUGIN}/graphs/info")
    assert info[f"{runs['01_callbacks.py']}/train"]["tags"]["keras"]["conceptual_graph"]
    assert info[f"{runs['05_graph.py']}/function"]["run_graph"]
    assert info[f"{runs['05_graph.py']}/model"]["run_graph"]
    graph = server.get(f"{PLUGIN}/graphs/graph", raw=True, run=f"{runs['05_graph.py']}/function")
    assert b'op: "MatMul"' in graph and b'op: "Relu"' in graph
    graph = server.get(f"{PLUGIN}/graphs/graph", raw=True, run=f"{runs['05_graph.py']}/model")
    assert b'op: "Conv2D"' in graph


def test_distributions_and_histograms_of_01(server, runs):
    for dashboard in ("distributions", "histograms"):
        tags = server.get(f"{PLUGIN}/{dashboard}/tags")[f"{runs['01_callbacks.py']}/train"]
        assert sum(tag.endswith("kernel/histogram") for tag in tags) == 4
    tag = "cnn/features/kernel/histogram"
    histograms = server.get(f"{PLUGIN}/histograms/histograms", run=f"{runs['01_callbacks.py']}/train", tag=tag)
    assert [step for _, step, _ in histograms] == list(range(EPOCHS_01))


def test_hparams_experiment_of_06_with_one_session_per_trial(runs, shared_logdir):
    # Served as the script's printed command serves it, on its run's own directory: the shared logdir also holds
    # other experiments (06 --fit's, 14's), and the dashboard takes the first declaration it finds in its logdir
    # for every row (docs/limitations.md, "HParams takes the first declaration it finds").
    with running_tensorboard(shared_logdir / runs["06_hparams.py"]) as server:
        server.wait_until(lambda: len(server.session_groups()) >= 2, what="a row per trial")
        experiment = server.post(f"{PLUGIN}/hparams/experiment", {"experimentName": ""})
        groups = server.session_groups()
    assert {info["name"] for info in experiment["hparamInfos"]} == {"units", "dropout", "learning_rate"}
    # A default run declares only the columns its rows fill (see 06_hparams.py's METRICS): no test accuracy.
    assert {info["name"]["tag"] for info in experiment["metricInfos"]} == {"validation_accuracy", "validation_loss"}
    assert len(groups) == 2
    for group in groups:
        assert set(group["hparams"]) == {"units", "dropout", "learning_rate"}
        assert len(group["sessions"]) == 1
        # Every declared column has a value in every row, so Parallel Coordinates draws each of them.
        tags = {metric["name"]["tag"] for metric in group["metricValues"]}
        assert tags == {"validation_accuracy", "validation_loss"}


def test_projector_serves_07_with_both_embeddings_metadata_and_sprite(server, runs):
    run = runs["07_projector.py"]
    server.wait_until(lambda: run in server.get(f"{PLUGIN}/projector/runs"), what="the projector run")
    info = server.get(f"{PLUGIN}/projector/info", run=run)
    names = [embedding["tensorName"] for embedding in info["embeddings"]]
    assert names == ["features", "pixels"]
    points = info["embeddings"][0]["tensorShape"][0]
    metadata = server.get(f"{PLUGIN}/projector/metadata", raw=True, run=run, name=names[0])
    assert len(metadata.decode().splitlines()) == points
    sprite = server.get(f"{PLUGIN}/projector/sprite_image", raw=True, run=run, name=names[0])
    assert sprite.startswith(b"\x89PNG")


def profile_runs_of_08(server, runs):
    """{pipeline: its Profile-tab run name}: `<08's run>/<pipeline>/<time of the profile>`."""
    profile_runs = server.get(f"{PLUGIN}/profile/runs")
    found = {}
    for pipeline in ("naive", "optimized"):
        (found[pipeline],) = [run for run in profile_runs if run.startswith(f"{runs['08_profiler.py']}/{pipeline}/")]
    return found


def profile_tool_data(server, run, tool):
    """What the Profile tab's page for `tool` reads: a list of tables, each with properties `p`, `cols` and `rows`."""
    (host,) = server.get(f"{PLUGIN}/profile/hosts", run=run, tag=tool)
    raw = server.get(f"{PLUGIN}/profile/data", raw=True, run=run, tag=tool, host=host["hostname"])
    assert b"No step marker" not in raw
    return json.loads(raw)


def step_time_breakdown(tables):
    """The step-time graph of an overview_page or input_pipeline_analyzer: its summary and {column: values}."""
    (table,) = [table for table in tables if table and (table.get("p") or {}).get("steptime_ms_average")]
    columns = [column["id"] for column in table["cols"]]
    return table["p"], {column: [row["c"][i]["v"] for row in table["rows"]] for i, column in enumerate(columns)}


def test_profile_of_08_lists_both_runs_and_their_tools(server, runs):
    for profile_run in profile_runs_of_08(server, runs).values():
        tools = server.get(f"{PLUGIN}/profile/run_tools", run=profile_run)
        assert {"overview_page", "input_pipeline_analyzer"} <= set(tools)
        assert any(tool.startswith("trace_viewer") for tool in tools)


def test_overview_pages_of_08_show_step_times_and_the_naive_run_waits_more_for_input(server, runs):
    input_shares = {}
    for pipeline, profile_run in profile_runs_of_08(server, runs).items():
        summary, steps = step_time_breakdown(profile_tool_data(server, profile_run, "overview_page"))
        assert float(summary["steptime_ms_average"]) > 0, pipeline
        # The step-time graph: one point per profiled step (the profiler leaves out the first and the last).
        assert len(steps["stepnum"]) >= 8 and all(name.startswith("train ") for name in steps["stepnum"])
        assert all(time > 0 for time in steps["stepTimeMs"])
        assert "input-bound" in summary["input_conclusion"], summary["input_conclusion"]
        input_shares[pipeline] = sum(steps["infeedTimeMs"]) / sum(steps["stepTimeMs"])
    assert input_shares["naive"] > input_shares["optimized"], input_shares


def test_input_pipeline_analyzer_of_08_shows_where_the_naive_input_time_goes(server, runs):
    stages = {}
    for pipeline, profile_run in profile_runs_of_08(server, runs).items():
        tables = profile_tool_data(server, profile_run, "input_pipeline_analyzer")
        _, steps = step_time_breakdown(tables)
        assert sum(steps["infeedTimeMs"]) > 0, pipeline
        # The host-side breakdown: one row per tf.data stage (Iterator::Root::...::Map), with its time.
        (breakdown,) = [table for table in tables if table and "preprocessing_us" in (table.get("p") or {})]
        assert float(breakdown["p"]["preprocessing_us"]) > 0, pipeline
        stages[pipeline] = {row["c"][0]["v"] for row in breakdown["rows"]}
    assert any(stage.endswith("::Map") for stage in stages["naive"]), stages["naive"]
    # Honestly naive: TensorFlow's automatic prefetch and map-and-batch fusion are off for it.
    assert not any("Prefetch" in stage or "MapAndBatch" in stage for stage in stages["naive"]), stages["naive"]
    assert any("Prefetch" in stage for stage in stages["optimized"]), stages["optimized"]


def test_text_of_09_renders_markdown_tables_and_a_code_block(server, runs):
    run = runs["09_text.py"]
    server.wait_until(lambda: run in server.get(f"{PLUGIN}/text/tags"), what="the text run")
    assert set(server.get(f"{PLUGIN}/text/tags")[run]) == {"settings", "model_summary", "mistakes"}
    # The server turns the Markdown into the HTML the tab shows: tables, and the summary as preformatted code.
    mistakes = server.get(f"{PLUGIN}/text/text", run=run, tag="mistakes")
    assert [entry["step"] for entry in mistakes] == list(range(EPOCHS_09))
    for entry in mistakes:
        assert "<table>" in entry["text"] and "<th>predicted class</th>" in entry["text"]
    (settings,) = server.get(f"{PLUGIN}/text/text", run=run, tag="settings")
    assert "<table>" in settings["text"] and "<td>epochs</td>" in settings["text"]
    (summary,) = server.get(f"{PLUGIN}/text/text", run=run, tag="model_summary")
    assert "<pre><code>" in summary["text"] and "features (Dense)" in summary["text"]


def test_pr_curves_of_10_one_tag_per_class_with_a_curve_per_epoch(server, runs):
    run = f"{runs['10_pr_curves.py']}/test"
    server.wait_until(lambda: run in server.get(f"{PLUGIN}/pr_curves/tags"), what="the PR-curves run")
    tags = server.get(f"{PLUGIN}/pr_curves/tags")[run]
    assert set(tags) == {f"{digit}/pr_curves" for digit in range(10)}
    curves = server.get(f"{PLUGIN}/pr_curves/pr_curves", run=run, tag="3/pr_curves")[run]
    assert [curve["step"] for curve in curves] == list(range(EPOCHS_10))
    for curve in curves:
        assert len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"]) > 1
        assert all(0.0 <= value <= 1.0 for value in curve["precision"] + curve["recall"])


def test_custom_scalars_of_11_every_chart_of_the_layout_finds_its_tags(server, runs):
    assert server.get("/data/plugins_listing")["custom_scalars"]["enabled"]
    layout = server.get(f"{PLUGIN}/custom_scalars/layout")
    charts = [chart for category in layout["category"] for chart in category["chart"]]
    multiline = [chart["multiline"] for chart in charts if "multiline" in chart]
    margin = [chart["margin"] for chart in charts if "margin" in chart]
    assert len(multiline) == 2 and len(margin) == 1
    run = runs["11_custom_scalars.py"]
    # The page asks, run by run, for the tags that match a chart's regexes joined by "|".
    for chart in multiline:
        tag_regex = "|".join(f"({regex})" for regex in chart["tag"])
        for split in ("train", "test"):
            found = server.get(f"{PLUGIN}/custom_scalars/scalars", run=f"{run}/{split}", tag=tag_regex)
            assert found["regex_valid"]
            (events,) = found["tag_to_events"].values()
            assert [step for _, step, _ in events] == list(range(EPOCHS_11))
    # A margin series names exact tags, which must all be in one run at the same steps.
    for series in margin[0]["series"]:
        tags = (series["value"], series["lower"], series["upper"])
        tag_regex = "|".join(f"({re.escape(tag)})" for tag in tags)
        found = server.get(f"{PLUGIN}/custom_scalars/scalars", run=f"{run}/train", tag=tag_regex)["tag_to_events"]
        value, lower, upper = (found[tag] for tag in tags)
        for events in (value, lower, upper):
            assert [step for _, step, _ in events] == list(range(EPOCHS_11))
        for (_, _, mean), (_, _, lowest), (_, _, highest) in zip(value, lower, upper, strict=True):
            assert lowest <= mean <= highest


def test_batch_curves_and_confusion_matrices_of_13_line_up_with_its_validation_curves(server, runs):
    train, validation = f"{runs['13_fit_callbacks.py']}/train", f"{runs['13_fit_callbacks.py']}/validation"
    tags = server.get(f"{PLUGIN}/scalars/tags")
    assert {"batch_loss", "batch_accuracy", "epoch_loss", "epoch_learning_rate"} <= set(tags[train])
    # Batch-level points at the global batch number: increasing across epochs, many per epoch.
    batch_steps = [step for _, step, _ in server.get(f"{PLUGIN}/scalars/scalars", run=train, tag="batch_loss")]
    assert batch_steps == sorted(set(batch_steps)) and batch_steps[0] > 0 and len(batch_steps) > 2 * EPOCHS_13
    curve = server.get(f"{PLUGIN}/scalars/scalars", run=validation, tag="epoch_accuracy")
    assert [step for _, step, _ in curve] == list(range(EPOCHS_13))
    # The callback's own event file sits in the same run: its images at the steps of Keras' validation curve.
    assert "confusion_matrix" in server.get(f"{PLUGIN}/images/tags")[validation]
    matrices = server.get(f"{PLUGIN}/images/images", run=validation, tag="confusion_matrix")
    assert [entry["step"] for entry in matrices] == [step for _, step, _ in curve]
    png = server.get(f"{PLUGIN}/images/individualImage?{matrices[-1]['query']}", raw=True)
    picture = tf.io.decode_png(png).numpy()
    assert picture.shape[0] >= 400 and picture.shape[1] >= 400 and picture.std() > 0


@pytest.fixture(scope="module")
def debugger_server(run_script):
    """A second TensorBoard, on 12's dump directory itself: Debugger V2 reads only the root of --logdir."""
    with running_tensorboard(run_script("12_debugger.py").run_dir) as tb:
        yield tb


def debugger_alerts(server):
    return server.get(f"{PLUGIN}/debugger-v2/alerts", run="__default_debugger_run__", begin=0, end=-1)


def test_debugger_v2_of_12_alerts_that_the_log_op_made_inf(debugger_server):
    assert debugger_server.get(f"{PLUGIN}/debugger-v2/runs").keys() == {"__default_debugger_run__"}
    # The dashboard reads the dump in the background: ask until the alerts are counted.
    debugger_server.wait_until(lambda: debugger_alerts(debugger_server)["num_alerts"] > 0, what="the alerts")
    alerts = debugger_alerts(debugger_server)
    assert alerts["alerts_breakdown"]["InfNanAlert"] >= 1
    first = alerts["alerts"][0]
    assert first["alert_type"] == "InfNanAlert"
    assert first["op_type"] == "Log" and first["num_neg_inf"] > 0


def test_debugger_v2_finds_no_dump_below_the_root_of_its_logdir(server, runs):
    # The shared logdir holds 12's dump two levels down, and the dashboard does not look there.
    assert runs["12_debugger.py"]
    assert server.get(f"{PLUGIN}/debugger-v2/runs") == {}


# ----- A real browser: the page a learner sees --------------------------------------------------------

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def page(server):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed: sudo apt-get install chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright's own browser download can't work offline: use Debian's Chromium. The Mesh tab draws with
        # WebGL, which headless Chromium without a GPU renders with SwiftShader only when this flag allows it.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_FLAGS, "--enable-unsafe-swiftshader"]
        )
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


@pytest.mark.parametrize(
    ("tab", "text"),
    [
        ("scalars", "epoch_loss"),
        ("scalars", "batch_loss"),
        ("scalars", "batch_accuracy"),
        ("images", "confusion_matrix"),
        ("images", "augmented_grid"),
        ("hparams", "Validation accuracy"),
        ("text", "mistakes"),
        ("pr_curves", "tag: 0/pr_curves"),
    ],
)
def test_the_browser_shows_the_scripts_tags(page, server, tab, text):
    page.goto(f"{server.url}/#{tab}")
    page.get_by_text(text, exact=True).filter(visible=True).first.wait_for(timeout=60_000)


@contextlib.contextmanager
def own_run_served(runs, shared_logdir, script, expected_run, *flags):
    """A TensorBoard on `script`'s own run directory, as the command it prints serves it. The shared logdir holds
    more than 40 runs by the end of a session, and above 40 the page ticks none: its cards would stay empty."""
    with running_tensorboard(shared_logdir / runs[script], *flags, expected_runs=[expected_run]) as own_server:
        yield own_server


def test_the_images_page_opens_on_the_labelled_grids_of_03(page, runs, shared_logdir):
    """The page groups tags by what comes before their first `/` and sorts the groups: 03's single images
    (`first_images/...`) come after its grids, so the picture the README shows is the first card."""
    with own_run_served(runs, shared_logdir, "03_images.py", ".", "--samples_per_plugin", "images=1000") as server:
        images_page_opens_on_the_grids(page, server)


def images_page_opens_on_the_grids(page, server):
    page.goto(f"{server.url}/#images")
    page.get_by_text("augmented_grid", exact=True).filter(visible=True).first.wait_for(timeout=60_000)
    # The tag of every image card, in page order (the cards live in shadow roots).
    tags = page.evaluate(
        """() => {
            const tags = [];
            const walk = (root) => root.querySelectorAll("*").forEach((element) => {
                if (element.shadowRoot) walk(element.shadowRoot);
                if (element.tagName.toLowerCase() === "tf-image-loader") tags.push(element.tag);
            });
            walk(document);
            return tags;
        }"""
    )
    assert tags[0] == "augmented_grid", tags[:5]
    # The group of single images (its cards drawn as it is scrolled to) is headed below the grids.
    header = page.get_by_text("first_images", exact=True).first
    header.wait_for(timeout=60_000)
    grid = page.get_by_text("augmented_grid", exact=True).filter(visible=True).first
    assert header.bounding_box()["y"] > grid.bounding_box()["y"]


def test_the_browser_shows_the_script_runs(page, server, runs):
    page.goto(f"{server.url}/#scalars")
    page.get_by_text(f"{runs['01_callbacks.py']}/train", exact=True).filter(visible=True).first.wait_for(timeout=60_000)


def test_the_browser_shows_the_custom_scalars_layout_of_11(page, server):
    page.goto(f"{server.url}/#custom_scalars")
    for text in ("Train vs test", "loss: epoch mean, lowest and highest batch"):
        page.get_by_text(text, exact=True).filter(visible=True).first.wait_for(timeout=60_000)


def test_the_browser_shows_the_debugger_v2_alerts_of_12(page, debugger_server):
    page.goto(f"{debugger_server.url}/#debugger-v2")
    page.get_by_text("NaN/∞", exact=True).filter(visible=True).first.wait_for(timeout=60_000)
    page.get_by_text("NaN/∞", exact=True).first.click()
    page.get_by_text("Log:0", exact=True).filter(visible=True).first.wait_for(timeout=60_000)


def test_the_browser_shows_the_audio_cards_of_17_named_by_key_and_prediction(page, runs, shared_logdir):
    every_clip = ("--samples_per_plugin", "audio=1000")
    with own_run_served(runs, shared_logdir, "17_audio.py", "validation", *every_clip) as server:
        audio_cards_are_named_and_play(page, server)


def audio_cards_are_named_and_play(page, server):
    page.goto(f"{server.url}/#audio")
    card_title = re.compile(r"^key \S/heard as \S$")
    page.get_by_text(card_title).filter(visible=True).first.wait_for(timeout=60_000)
    # Each card has its player, which loads the clip from the audio plugin (relative to the page).
    player = page.locator("audio").first
    player.wait_for(state="attached", timeout=60_000)
    source = player.get_attribute("src")
    assert source.startswith("data/plugin/audio/individualAudio?"), source
    assert server.get(f"/{source}", raw=True).startswith(b"RIFF")  # a WAV file


def test_the_browser_draws_the_point_cloud_of_18_when_the_mesh_tab_opens(page, runs, shared_logdir):
    with own_run_served(runs, shared_logdir, "18_mesh.py", ".") as server:
        point_cloud_is_drawn_in_class_colours(page, server)


def point_cloud_is_drawn_in_class_colours(page, server):
    import numpy as np

    mesh_script = importlib.import_module("18_mesh")
    page.goto(f"{server.url}/#mesh")
    canvas = page.locator("canvas").filter(visible=True).first
    canvas.wait_for(timeout=60_000)
    palette = np.array(list(mesh_script.COLOURS.values()), dtype=np.int16)
    # The points are drawn in their class colours, with no click: count the pixels near each colour.
    deadline = time.monotonic() + 60
    while True:
        pixels = tf.io.decode_png(canvas.screenshot()).numpy()[..., :3].reshape(-1, 1, 3).astype(np.int16)
        near = (np.abs(pixels - palette).max(axis=2) <= 12).sum(axis=0)
        if (near >= 20).sum() >= 8 or time.monotonic() > deadline:
            break
        page.wait_for_timeout(1000)
    assert (near >= 20).sum() >= 8, dict(zip(mesh_script.COLOURS, near.tolist(), strict=True))
