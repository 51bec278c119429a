"""
Title: Screenshots of every script's tab, from a real run
Description: Runs the numbered scripts (or takes an existing logdir), serves each with TensorBoard, and saves
what headless Chromium shows as docs/images/<NN>_<tab>.png, the pictures in the README and docs/tabs.md.

Run it:   python tools/screenshots.py                    (runs the scripts into a new temporary logdir)
          python tools/screenshots.py --logdir logs      (uses the newest run of each script in logs/)
          python tools/screenshots.py --only 08          (one script's picture; --only takes several)
Online:   the Profile tab draws its step-time graph with Google Charts, which it loads from the internet:
          on a machine without internet access the 08 picture shows the numbers but not the graph.
Needs:    Debian's Chromium (apt-get install chromium) and playwright (requirements-dev.txt).
Time on a 2-core CPU: about 3 minutes.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from tensorboard_server import CHROMIUM_FLAGS, running_tensorboard

ROOT = Path(__file__).resolve().parents[1]

OUTPUT_DIR = ROOT / "docs" / "images"
# The Projector draws with WebGL; without a GPU Chromium needs the last flag to use its software renderer.
BROWSER_FLAGS = [*CHROMIUM_FLAGS, "--enable-unsafe-swiftshader"]

# script, the flags of its run, the tab to open, a text that shows the tab has loaded, the picture's name.
SHOTS = [
    ("01_callbacks.py", ["--dataset", "digits"], "scalars", "epoch_loss", "01_scalars.png"),
    ("02_scalars_custom_loop.py", ["--epochs", "4"], "scalars", "batch_loss", "02_scalars.png"),
    # 03's own defaults (a grid about five times an epoch): the page opens on the grids and their step slider.
    ("03_images.py", [], "images", "augmented_grid", "03_images.png"),
    ("04_confusion_matrix.py", ["--epochs", "5"], "images", "confusion_matrix", "04_images.png"),
    ("05_graph.py", [], "graphs", "Main Graph", "05_graphs.png"),
    # Both pictures of 06 come from one default run, its grid of 36 trials: the table, and every trial as a line.
    ("06_hparams.py", ["--dataset", "digits"], "hparams", "Validation accuracy", "06_hparams.png"),
    ("06_hparams.py", ["--dataset", "digits"], "hparams", "Validation accuracy", "06_parallel_coordinates.png"),
    ("07_projector.py", ["--epochs", "5"], "projector", "Points:", "07_projector.png"),
    ("08_profiler.py", [], "profile", "input-bound", "08_profile.png"),
    ("09_text.py", ["--epochs", "3"], "text", "mistakes", "09_text.png"),
    # The tag filter (in the page's URL) shows two classes that are hard to tell apart, 8 and 9 of digits or
    # cat and dog of CIFAR-10: the easy classes' curves are a plain square corner.
    (
        "10_pr_curves.py",
        ["--epochs", "5"],
        "pr_curves&tagFilter=%5E(8%7C9%7Ccat%7Cdog)%2F",
        "/pr_curves",
        "10_pr_curves.png",
    ),
    ("11_custom_scalars.py", ["--epochs", "8"], "custom_scalars", "Training batches", "11_custom_scalars.png"),
    ("12_debugger.py", [], "debugger-v2", "NaN/∞", "12_debugger.png"),
    # Time Series shows the batch-level curves, the epoch curves and the confusion matrices of 13 in one view.
    ("13_fit_callbacks.py", ["--epochs", "5"], "timeseries", "confusion_matrix", "13_time_series.png"),
    (
        "14_keras_tuner.py",
        ["--workers", "2", "--trials", "8", "--epochs", "3"],
        "hparams",
        "Validation accuracy",
        "14_hparams.png",
    ),
    # The Overview page of the profile run the chief captured (its own host).
    ("15_multi_worker.py", ["--workers", "2", "--epochs", "3"], "profile", "Host Compute Time", "15_profile.png"),
    # 17 and 18 as a learner first runs them: the clips of a model that has learned (a --quick model mishears
    # nearly every clip), and the cloud of five epochs.
    ("17_audio.py", [], "audio", "heard as", "17_audio.png"),
    ("18_mesh.py", ["--dataset", "digits"], "mesh", "features", "18_mesh.png"),
]

# The scripts that run with their defaults (and the flags above), not --quick.
DEFAULT_RUNS = ("01_callbacks.py", "06_hparams.py", "17_audio.py", "18_mesh.py")

# A taller window where the tab's first view is taller than 900 pixels: the Mesh tab's canvas.
VIEWPORT_HEIGHTS = {"18_mesh.png": 1250}

# The Profile tab opens the run and tool named in the page's query: the naive pipeline's Input pipeline
# analyzer, whose verdict says how much of each step waits for input. (The Overview page shows the same
# verdict beside its step-time graph, but draws both with Google Charts, which needs internet access.)
# 15's: the Overview page of the profile run the chief captured.
PROFILE_VIEWS = {"08_profile.png": ("/naive/", "input_pipeline_analyzer"), "15_profile.png": ("/", "overview_page")}

# Texts to click, in order, before a picture is taken: the Scalars tab ignores outliers in its scaling when it
# opens, which cuts off the top of 01's short curves (as 01 prints): unticking it shows them whole. (02's sweep
# keeps it: unticked, the 0.1 rate's first batches, above 100, flatten every other rate's curve.) Debugger V2 opens
# on its first op; the alert and the `Log` op it points to show where the Inf came from, with the op's stack
# trace. Time Series opens with its settings pane, which would hide a third of the cards: "Settings" closes it.
CLICKS = {
    "01_scalars.png": ["Ignore outliers in chart scaling"],
    "06_parallel_coordinates.png": [re.compile(r"^\s*parallel coordinates view\s*$", re.IGNORECASE)],
    "12_debugger.png": ["NaN/∞", "Log:0"],
    "13_time_series.png": ["Settings"],
}

# A regex to type into the tag filter before a picture is taken: Time Series then lays the matching cards out
# side by side. 13's: the batch-level loss, the validation curve and the confusion matrix of the same epochs.
TAG_FILTERS = {"13_time_series.png": "^(batch_loss|epoch_accuracy|confusion_matrix)$"}


# 16_export.py has no tab: its picture is the figure it draws from the newest runs of these scripts (02's batch loss
# at each learning rate, smoothed as the Scalars tab smooths it).
EXPORT_SOURCES = ("02_scalars_custom_loop.py", "06_hparams.py")
EXPORT_FLAGS, EXPORT_FIGURE, EXPORT_PICTURE = ["--tag", "batch_loss"], "scalars.png", "16_export.png"


def export_figure(logdir, scratch):
    """Runs 16_export.py on a copy of the newest runs of EXPORT_SOURCES and saves its figure in docs/images/."""
    export_logdir = Path(scratch) / "export-logs"
    for script in EXPORT_SOURCES:
        run_dir = newest_run(logdir, script)
        shutil.copytree(run_dir, export_logdir / run_dir.parent.name / run_dir.name)
    out = Path(scratch) / "export"
    command = [sys.executable, "16_export.py", "--logdir", str(export_logdir), "--out", str(out), *EXPORT_FLAGS]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.copy(out / EXPORT_FIGURE, OUTPUT_DIR / EXPORT_PICTURE)
    print(f"Saved {(OUTPUT_DIR / EXPORT_PICTURE).relative_to(ROOT)}")


def run_scripts(logdir, shots):
    ran = set()
    for script, flags, *_ in shots:
        if (script, *flags) in ran:
            continue  # a second picture of the same run
        ran.add((script, *flags))
        # DEFAULT_RUNS run as a learner first runs them (their defaults); the others run their quick smoke test
        # with more epochs.
        quick = [] if script in DEFAULT_RUNS else ["--quick", "--dataset", "digits"]
        print(f"Running {script} ...", flush=True)
        subprocess.run(
            [sys.executable, script, *quick, *flags, "--logdir", str(logdir)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def newest_run(logdir, script):
    runs = sorted((Path(logdir) / Path(script).stem).iterdir())
    if not runs:
        raise SystemExit(f"error: no run of {script} under {logdir}; run it first or omit --logdir")
    return runs[-1]


def wait_for_text(page, text, timeout=60):
    """Waits until `text` is visible in the page or in any of its frames (the Projector and the
    Profile tab live in iframes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame.get_by_text(text).filter(visible=True).count():
                return
        time.sleep(0.5)
    raise TimeoutError(f"{text!r} did not appear within {timeout} s")


def page_query(server, tab, run_dir, output_name):
    """The query string that opens `tab` on the picture's run and tool (only the Profile tab needs one)."""
    if tab != "profile":
        return ""
    run_suffix, tool = PROFILE_VIEWS[output_name]
    server.wait_until(lambda: server.get("/data/plugin/profile/runs"), what="the profile runs")
    # The served logdir may hold earlier runs of the script too: take the picture's own run.
    wanted = f"{run_dir.name}{run_suffix}"
    (run,) = [run for run in server.get("/data/plugin/profile/runs") if run.startswith(wanted)]
    host = server.get("/data/plugin/profile/hosts", run=run, tag=tool)[0]
    return "?" + urllib.parse.urlencode({"run": run, "tag": tool, "host": host["hostname"]})


def capture(browser, run_dir, tab, text, output):
    # Each picture shows one script's run alone, as `tensorboard --logdir logs/<script>` would. Debugger V2
    # reads only the root of --logdir, so it is served its dump directory itself.
    logdir = run_dir if tab == "debugger-v2" else run_dir.parent
    with running_tensorboard(logdir, "--samples_per_plugin", "images=1000") as server:
        page = browser.new_page(viewport={"width": 1400, "height": VIEWPORT_HEIGHTS.get(output.name, 900)})
        page.goto(f"{server.url}/{page_query(server, tab, run_dir, output.name)}#{tab}")
        wait_for_text(page, text)
        for click in CLICKS.get(output.name, []):
            page.wait_for_timeout(2000)
            page.get_by_text(click, exact=True).first.click()
        if output.name in TAG_FILTERS:
            tag_filter = page.get_by_role("combobox", name="Filter tags (regex)")
            tag_filter.fill(TAG_FILTERS[output.name])
            # Closes the list of matching tags that typing opens over the cards.
            tag_filter.press("Escape")
        # Let charts, graph layout and the projector's points finish drawing.
        page.wait_for_timeout(6000)
        page.screenshot(path=str(output))
        page.close()
    print(f"Saved {output.relative_to(ROOT)}")


def main():
    parser = argparse.ArgumentParser(description="Screenshot each script's TensorBoard tab.")
    parser.add_argument("--logdir", help="an existing logdir holding a run of every script")
    parser.add_argument(
        "--only", nargs="+", metavar="NN", help="only the pictures of these scripts, by number (e.g. --only 05 08)"
    )
    args = parser.parse_args()
    shots = [shot for shot in SHOTS if not args.only or shot[0][:2] in args.only]
    export = not args.only or "16" in args.only
    if not shots and not export:
        numbers = ", ".join(sorted({shot[0][:2] for shot in SHOTS} | {"16"}))
        raise SystemExit(f"error: no script numbered {' or '.join(args.only)}; they are {numbers}")
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("error: Chromium is not installed; run: sudo apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        logdir = Path(args.logdir) if args.logdir else Path(scratch) / "logs"
        if not args.logdir:
            run_scripts(logdir, [shot for shot in SHOTS if shot in shots or (export and shot[0] in EXPORT_SOURCES)])
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        if export:
            export_figure(logdir, scratch)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_FLAGS)
            try:
                for script, _, tab, text, name in shots:
                    capture(browser, newest_run(logdir, script), tab, text, OUTPUT_DIR / name)
            finally:
                browser.close()


if __name__ == "__main__":
    main()
