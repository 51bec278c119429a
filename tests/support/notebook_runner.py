"""Runs a generated notebook as a learner opens it, in a real Jupyter kernel, and checks the tab it fills.

Each notebook runs in a fresh copy of the repository's scripts (`checkout`), so that it writes its logs where a
learner's would, to `logs/` of that copy, and its `%tensorboard` cell serves them. Only the FLAGS cell changes:
the offline `digits` and the script tests' small arguments (support.scripts.SCRIPT_ARGS), with --quick's one epoch. The
TensorBoard that the notebook starts is stopped afterwards. The checks read the logs back with TensorBoard's
readers, as the script tests do, for at least the tags that each script's own test checks.
"""

import json
import os
import re
import shutil
import signal
import sys

import nbformat
import numpy as np
from nbclient import NotebookClient
from tensorboard import manager

import make_notebooks
from support import tb_read
from support.scripts import ROOT, SCRIPT_ARGS, dataset_flags

KERNEL_TIMEOUT_SECONDS = 600
# The FLAGS cell's last line: the lessons' FLAGS = ["--quick"], 16's FLAGS = [].
FLAGS_LINES = ('FLAGS = ["--quick"]', "FLAGS = []")
# The offline iframe the %tensorboard magic shows: `<iframe id="tensorboard-frame-...">`, pointed at the port
# of the TensorBoard it started by a script.
TENSORBOARD_FRAME = re.compile(r'<iframe id="tensorboard-frame-[0-9a-f]+".*const port = (\d+);', re.DOTALL)

NOTEBOOKS = [make_notebooks.notebook_path(script) for script in make_notebooks.scripts()]
# Two halves of about the same time, one test file each, so that pytest-xdist's two processes share them: the
# video's (the starter and 01 to 08) and those beyond it.
VIDEO_NOTEBOOKS = [path for path in NOTEBOOKS if path.stem == "starter" or path.stem[:2] <= "08"]
BEYOND_NOTEBOOKS = [path for path in NOTEBOOKS if path not in VIDEO_NOTEBOOKS]


def checkout(directory):
    """A copy of the repository's scripts in `directory`, with an empty notebooks/ folder, as after a clone."""
    for script in ROOT.glob("*.py"):
        shutil.copy(script, directory)
    (directory / "notebooks").mkdir()
    return directory


def with_flags(notebook, flags):
    """The notebook with `flags` in its FLAGS cell instead of ["--quick"] (16's: []); nothing else changes."""
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.endswith(FLAGS_LINES)]
    cell.source = cell.source.removesuffix(cell.source.splitlines()[-1]) + f"FLAGS = {json.dumps(flags)}"
    return notebook


# What the notebooks add to the script tests' small arguments, to keep their time down: 02's sweep takes two
# learning rates instead of five (still two runs to overlay).
# 14 runs its search in the kernel's own process (two trials); 15 starts one worker process, the chief, so that the
# notebook test does not meet the crash that sometimes ends a second worker's profile (docs/limitations.md).
NOTEBOOK_ARGS = {
    "02_scalars_custom_loop": ("--learning-rates", "0.01", "0.001"),
    "14_keras_tuner": ("--trials", "2"),
    "15_multi_worker": ("--workers", "1"),
}


# 16_export.py trains nothing, so it takes none of the training flags: it reads what the other lessons logged.
EXPORT_NOTEBOOK = "16_export"


def flags_for(notebook_path):
    """["--quick", "--dataset", "digits"] (no --dataset for a lesson that makes its own data) and the script tests'
    small arguments, but one epoch (--quick's):
    the notebook tests check that each tab has data; the script tests check what the data says."""
    if notebook_path.stem == EXPORT_NOTEBOOK:
        return []
    args = list(SCRIPT_ARGS.get(f"{notebook_path.stem}.py", ()))
    if "--epochs" in args:
        del args[args.index("--epochs") : args.index("--epochs") + 2]
    return ["--quick", *dataset_flags(notebook_path.stem + ".py"), *args, *NOTEBOOK_ARGS.get(notebook_path.stem, ())]


def outputs_text(notebook):
    """Everything the code cells printed (stdout and stderr), in order."""
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )


def tensorboard_port(cell):
    """The port of the TensorBoard that a %tensorboard cell's output embeds, or None."""
    for output in cell.get("outputs", []):
        match = TENSORBOARD_FRAME.search(output.get("data", {}).get("text/html", ""))
        if match:
            return int(match.group(1))
    return None


def stop_tensorboard(port, known_pids):
    """Stops the TensorBoard on `port` if it was started since `known_pids` were taken, and returns its info.

    The port tells it apart from the TensorBoards of other notebooks that run at the same time, in the other
    pytest process.
    """
    for info in manager.get_all():
        if info.port == port and info.pid not in known_pids:
            os.kill(info.pid, signal.SIGTERM)
            return info
    return None


def activated_env():
    """The environment of a kernel started from an activated virtual environment: its bin/ first on PATH."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.pop("TENSORBOARD_BINARY", None)
    return env


def env_without_tensorboard():
    """The environment of a kernel from a virtual environment that was never activated (VS Code): no directory
    on PATH holds a `tensorboard` program."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    env = {**os.environ, "PATH": os.pathsep.join(d for d in path if d and not shutil.which("tensorboard", path=d))}
    for name in ("TENSORBOARD_BINARY", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def run_notebook(notebook_path, directory, env=None):
    """Executes the notebook in a new kernel, from a checkout in `directory`, with the test flags.

    Returns:
        (the executed notebook, the checkout, the info of the TensorBoard that its %tensorboard cell started and
        embedded, now stopped, or None).
    """
    repository = checkout(directory)
    if notebook_path.stem == EXPORT_NOTEBOOK:
        log_a_run_to_export(repository)
    notebook = with_flags(nbformat.read(notebook_path, as_version=4), flags_for(notebook_path))
    copy_path = repository / "notebooks" / notebook_path.name
    nbformat.write(notebook, copy_path)
    known_pids = {info.pid for info in manager.get_all()}
    tensorboards = []

    def stop_the_tensorboard_it_started(cell, **_):
        # Right after the %tensorboard cell, while the kernel lives: shutting the kernel down later would kill
        # its TensorBoard too, and then the test could no longer tell which one it was.
        port = tensorboard_port(cell) if cell.cell_type == "code" else None
        if port is not None:
            tensorboards.append(stop_tensorboard(port, known_pids))

    client = NotebookClient(
        notebook,
        timeout=KERNEL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(copy_path.parent)}},
        on_cell_executed=stop_the_tensorboard_it_started,
    )
    client.execute(env=env)
    assert len(tensorboards) <= 1, tensorboards
    return notebook, repository, tensorboards[0] if tensorboards else None


# The run that 16's notebook exports, as a lesson's custom loop would have logged it: (tag, step, value).
EXPORTED_POINTS = [("loss", step, 2.0 / (step + 1)) for step in range(5)]


def log_a_run_to_export(repository):
    """Writes one run of scalars into the checkout's logs/, where a learner's earlier lessons would have logged."""
    import tensorflow as tf

    run_dir = repository / "logs" / "02_scalars_custom_loop" / "20260101-000000" / "train"
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for tag, step, value in EXPORTED_POINTS:
            tf.summary.scalar(tag, value, step=step)
    writer.close()


def check_16(output, repository, tensorboard):
    """The notebook exported every point of the run to scalars.csv, and its %tensorboard cell serves logs/."""
    import pandas as pd

    match = re.search(r"^(\S+)/scalars\.csv: ", output, re.MULTILINE)
    assert match, output[-2000:]
    scalars = pd.read_csv(repository / match.group(1) / "scalars.csv")
    assert set(scalars.run) == {"02_scalars_custom_loop/20260101-000000/train"}
    exported = sorted(zip(scalars.tag, scalars.step, scalars.value, strict=True))
    assert [(tag, step) for tag, step, _ in exported] == [(tag, step) for tag, step, _ in EXPORTED_POINTS]
    # Logged as float32, exported as they were logged.
    assert [value for *_, value in exported] == [float(np.float32(value)) for *_, value in EXPORTED_POINTS]
    assert (repository / match.group(1) / "scalars.png").stat().st_size > 10_000
    assert tensorboard is not None and (repository / tensorboard.logdir).resolve() == (repository / "logs").resolve()


def run_dir_of(output, repository):
    """The run directory from the lesson's "Logs written to ..." line (relative to the repository's root)."""
    match = re.search(r"^Logs written to (.+)$", output, re.MULTILINE)
    assert match, output[-2000:]
    return repository / match.group(1)


# ---------------------------------------------------------------------------------------------------
# What each lesson's tab must show: at least the tags its script test checks
# ---------------------------------------------------------------------------------------------------


# --quick trains one epoch.
EPOCHS = 1


def check_01(run_dir, epochs):
    for split in ("train", "validation"):
        tb_read.assert_epoch_scalars(run_dir / split, ("epoch_loss", "epoch_accuracy"), epochs)
    train = tb_read.load(run_dir / "train")
    assert any(tag.endswith("kernel/histogram") for tag in tb_read.plugin_tags(train, "histograms"))
    assert "keras" in tb_read.plugin_tags(train, "graph_keras_model")


def check_02(run_dir, epochs):
    for split in ("train", "test"):
        tb_read.assert_epoch_scalars(run_dir / split, ("loss", "accuracy"), epochs)
    rate_dirs = sorted(run_dir.glob("lr_*"))
    assert rate_dirs
    for rate_dir in rate_dirs:
        assert tb_read.scalar_series(tb_read.load(rate_dir / "train"), "batch_loss")


def check_03(run_dir, epochs):
    run = tb_read.load(run_dir)
    assert tb_read.plugin_tags(run, "images") == {
        "augmented_grid",
        "first_images/before_augmentation",
        "first_images/after_augmentation",
        "first_images/after_minus_before",
    }
    assert tb_read.decoded_images(run, "augmented_grid")


def check_04(run_dir, epochs):
    test = tb_read.load(run_dir / "test")
    assert len(tb_read.decoded_images(test, "confusion_matrix")) == epochs
    for split in ("train", "test"):
        tb_read.assert_epoch_scalars(run_dir / split, ("loss", "accuracy"), epochs)


def check_05(run_dir, epochs):
    assert {"MatMul", "Relu"} <= tb_read.run_graph_ops(tb_read.load(run_dir / "function"))
    assert {"Conv2D", "MaxPool", "MatMul"} <= tb_read.run_graph_ops(tb_read.load(run_dir / "model"))


def check_06(run_dir, epochs):
    from tensorboard.plugins.hparams import metadata

    experiment = tb_read.load(run_dir).SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content
    config = metadata.parse_experiment_plugin_data(experiment)
    assert {hparam.name for hparam in config.hparam_infos} == {"units", "dropout", "learning_rate"}
    trial_dirs = [path for path in run_dir.iterdir() if path.is_dir()]
    assert len(trial_dirs) == 2
    for trial_dir in trial_dirs:
        ((_, accuracy),) = tb_read.scalar_series(tb_read.load(trial_dir), "validation_accuracy")
        assert 0.0 <= accuracy <= 1.0


def check_07(run_dir, epochs):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector import projector_plugin
    from werkzeug.test import Client

    # The Projector plugin, given the logdir one level above the run, as `tensorboard --logdir logs/07_...`.
    logdir = str(run_dir.parent)
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    context = base_plugin.TBContext(
        logdir=logdir, multiplexer=multiplexer, data_provider=data_provider.MultiplexerDataProvider(multiplexer, logdir)
    )
    apps = projector_plugin.ProjectorPlugin(context).get_plugin_apps()
    response = Client(apps["/info"]).get("/info", query_string={"run": run_dir.name})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    names = [embedding["tensorName"] for embedding in json.loads(response.get_data())["embeddings"]]
    assert names == ["features", "pixels"]


def check_08(run_dir, epochs):
    for pipeline in ("naive", "optimized"):
        (profile,) = (run_dir / pipeline / "plugins" / "profile").glob("*/*.xplane.pb")
        assert profile.stat().st_size > 1000


def check_09(run_dir, epochs):
    run = tb_read.load(run_dir)
    assert tb_read.plugin_tags(run, "text") == {"settings", "model_summary", "mistakes"}
    assert [step for step, _ in tb_read.tensor_values(run, "mistakes")] == list(range(epochs))


def check_10(run_dir, epochs):
    test = tb_read.load(run_dir / "test")
    tags = tb_read.plugin_tags(test, "pr_curves")
    assert len(tags) == 10 and all(tag.endswith("/pr_curves") for tag in tags)
    for tag in tags:
        assert [step for step, _ in tb_read.tensor_values(test, tag)] == list(range(epochs))


def check_11(run_dir, epochs):
    from tensorboard.plugins.custom_scalar import metadata

    train = tb_read.load(run_dir / "train")
    assert tb_read.plugin_tags(train, metadata.PLUGIN_NAME) == {metadata.CONFIG_SUMMARY_TAG}
    for split in ("train", "test"):
        tb_read.assert_epoch_scalars(run_dir / split, ("loss", "accuracy"), epochs)


def check_12(run_dir, epochs):
    from tensorflow.python.debug.lib import debug_events_reader

    with debug_events_reader.DebugDataReader(str(run_dir)) as reader:
        reader.update()
        assert any("train_step" in execution.op_type for execution in reader.executions())
        assert any(trace.op_type == "Log" for trace in reader.graph_execution_traces())


def check_13(run_dir, epochs):
    train = tb_read.load(run_dir / "train")
    assert tb_read.scalar_series(train, "batch_loss")
    for split in ("train", "validation"):
        tb_read.assert_epoch_scalars(run_dir / split, ("epoch_loss", "epoch_accuracy"), epochs)
    validation = tb_read.load(run_dir / "validation")
    assert len(tb_read.decoded_images(validation, "confusion_matrix")) == epochs


def check_14(run_dir, epochs):
    from tensorboard.plugins.hparams import metadata

    # KerasTuner logs each trial into <run>/<trial>/execution0: the session of its HParams row, and its curves.
    sessions = sorted(run_dir.glob("*/execution0"))
    assert len(sessions) == 2, sorted(run_dir.iterdir())
    for session in sessions:
        assert metadata.SESSION_START_INFO_TAG in tb_read.tensor_tags(tb_read.load(session))
        tb_read.assert_epoch_scalars(session / "validation", ("epoch_loss", "epoch_accuracy"), epochs)


def check_15(run_dir, epochs):
    tb_read.assert_epoch_scalars(run_dir / "train", ("epoch_loss", "epoch_accuracy"), epochs)
    (profile,) = run_dir.glob("plugins/profile/*/*.xplane.pb")
    assert profile.stat().st_size > 1000


def check_17(run_dir, epochs):
    tb_read.assert_epoch_scalars(run_dir / "validation", ("epoch_loss", "epoch_accuracy"), epochs)
    validation = tb_read.load(run_dir / "validation")
    tags = tb_read.plugin_tags(validation, "audio")
    assert tags and all(re.match(r"^key \S/heard as \S$", tag) for tag in tags), tags
    assert {step for tag in tags for step, _ in tb_read.tensor_values(validation, tag)} == set(range(epochs))


def check_18(run_dir, epochs):
    run = tb_read.load(run_dir)
    assert tb_read.plugin_tags(run, "mesh") == {"features_VERTEX", "features_COLOR"}
    for tag in ("features_VERTEX", "features_COLOR"):
        series = tb_read.tensor_values(run, tag)
        # Step 0: the untrained model's cloud; step e: after epoch e.
        assert [step for step, _ in series] == list(range(epochs + 1))
        assert all(value.shape == (1, 360, 3) for _, value in series)
    assert tb_read.plugin_tags(run, "text") == {"legend"}


# Keyed by the two digits of the lesson. A new lesson needs its check here: its notebook's test fails without.
CHECKS = {
    "01": check_01,
    "02": check_02,
    "03": check_03,
    "04": check_04,
    "05": check_05,
    "06": check_06,
    "07": check_07,
    "08": check_08,
    "09": check_09,
    "10": check_10,
    "11": check_11,
    "12": check_12,
    "13": check_13,
    "14": check_14,
    "15": check_15,
    "17": check_17,
    "18": check_18,
}


def check_notebook_run(notebook_path, notebook, repository, tensorboard):
    """Asserts what a learner would see: the lesson ran, its tab has data, %tensorboard embedded its TensorBoard."""
    output = outputs_text(notebook)
    if notebook_path.stem == "starter":
        # The starter logs nothing: its loop prints each epoch (its progress bar, then the test split's figures),
        # and there is no tab to show.
        assert re.search(r"^Epoch 1/1\n", output, re.MULTILINE), output[-2000:]
        assert re.search(r"^  test loss \d\.\d{4}, test accuracy \d\.\d{4}$", output, re.MULTILINE), output[-2000:]
        assert tensorboard is None
        return
    if notebook_path.stem == EXPORT_NOTEBOOK:
        check_16(output, repository, tensorboard)
        return
    lesson = notebook_path.stem[:2]
    assert lesson in CHECKS, f"tests/support/notebook_runner.py has no check of the tab of {notebook_path.name}"
    run_dir = run_dir_of(output, repository)
    assert run_dir.parent == repository / "logs" / notebook_path.stem
    CHECKS[lesson](run_dir, EPOCHS)
    # The %tensorboard cell embeds the TensorBoard it started, on its port, serving this run alone (so that its
    # runs are ticked when the page opens).
    assert tensorboard is not None, "the %tensorboard cell shows no frame of a TensorBoard it started"
    assert (repository / tensorboard.logdir).resolve() == run_dir.resolve()
