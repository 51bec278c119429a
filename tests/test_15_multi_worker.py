"""15_multi_worker.py: two local workers, event files from the chief alone with every epoch's scalars, one profile run
with the chief's host and its step markers, read back by the real server (--profile-all-workers: every worker's
address is captured); Ctrl-C (once, and twice) and bad --workers."""

import ctrl_c

import importlib
import re
import threading

import pytest

import plumbing

from support import tb_read
from support.scripts import python_noise, run_python
from support.shared_checks import assert_no_process_left, interrupt_at
from tensorboard_server import running_tensorboard

EPOCHS = 2
# --quick digits: 1,024 training images, 512 a worker; in batches of 100 a worker, 5 full batches and 12 images left
# over every epoch (computed here, not read from the script).
WORKERS, BATCH_SIZE, QUICK_TRAIN_IMAGES = 2, 100, 1024
FULL_BATCHES = QUICK_TRAIN_IMAGES // WORKERS // BATCH_SIZE
IMAGES_PER_EPOCH = WORKERS * FULL_BATCHES * BATCH_SIZE
PROFILE = "/data/plugin/profile"
STEP = "step_num"
# TensorFlow's C++ log lines from its start-up; anything else on stderr is the script's own.
TF_STARTUP_LINE = re.compile(
    r"^([IWE]\d{4} |WARNING: All log messages before absl|To enable the following instructions)"
)

multi_worker_script = importlib.import_module("15_multi_worker")


@pytest.fixture(scope="module")
def two_workers(run_script):
    return run_script(
        "15_multi_worker.py", "--workers", str(WORKERS), "--epochs", str(EPOCHS), "--batch-size", str(BATCH_SIZE)
    )


def profiler_addresses(stdout):
    """The addresses the script says to paste into the Capture profile dialog."""
    return re.search(r"CAPTURE PROFILE, paste (\S+)$", stdout, re.MULTILINE).group(1).split(",")


def test_only_the_chief_wrote_event_files(two_workers):
    event_files = list(two_workers.run_dir.rglob("events.out.tfevents.*"))
    assert event_files
    # An event file's name ends with <host>.<process id>.<count>.v2.
    writers = {path.name.split(".")[-3] for path in event_files}
    assert len(writers) == 1, event_files
    assert {path.parent.name for path in event_files} == {"train"}


def test_the_chief_logged_every_epoch(two_workers):
    run = tb_read.assert_epoch_scalars(two_workers.run_dir / "train", {"epoch_loss", "epoch_accuracy"}, EPOCHS)
    accuracies = [value for _, value in tb_read.scalar_series(run, "epoch_accuracy")]
    assert all(0.0 <= accuracy <= 1.0 for accuracy in accuracies)
    # What the progress bar's last line of each epoch showed (with 4 decimals) is what was logged.
    shown = re.findall(r"^worker 0 \| (\d+)/\1 .* accuracy: ([0-9.]+)$", two_workers.stdout, re.MULTILINE)
    shown = [accuracy for _, accuracy in shown]
    assert [f"{accuracy:.4f}" for accuracy in accuracies] == shown


def test_each_epochs_accuracy_is_a_mean_over_the_full_batches_it_trained(two_workers):
    # The chief says how many images an epoch trains: every worker's full batches, its remainder left out.
    assert f"{FULL_BATCHES} batches of {BATCH_SIZE}: {IMAGES_PER_EPOCH:,} of the {QUICK_TRAIN_IMAGES:,}" in (
        two_workers.stdout
    )
    run = tb_read.assert_epoch_scalars(two_workers.run_dir / "train", {"epoch_loss", "epoch_accuracy"}, EPOCHS)
    for _, accuracy in tb_read.scalar_series(run, "epoch_accuracy"):
        # Right answers over exactly IMAGES_PER_EPOCH images: a whole number of them. An epoch that also trained a
        # short batch (the remainder of an earlier pass) would divide by another count.
        right = accuracy * IMAGES_PER_EPOCH
        assert right == pytest.approx(round(right), abs=0.01), accuracy


def test_every_batch_a_worker_trains_is_full_and_an_epoch_is_each_workers_share(monkeypatch):
    # The pipelines the script gives each worker, rebuilt here as the strategy would ask for them.
    import tensorflow as tf

    import starter

    dataset = starter.load_dataset("digits", quick=True, verbose=False)
    pipelines = {}

    class TwoWorkers:
        num_replicas_in_sync = WORKERS

        def distribute_datasets_from_function(self, dataset_fn):
            for index in range(WORKERS):
                pipelines[index] = dataset_fn(tf.distribute.InputContext(WORKERS, index, WORKERS))

    _, steps_per_epoch, batch_size = multi_worker_script.worker_batches(TwoWorkers(), dataset, BATCH_SIZE)
    assert steps_per_epoch == FULL_BATCHES and batch_size == BATCH_SIZE
    for pipeline in pipelines.values():
        # Three epochs' worth of steps, as the loop takes them from the repeating pipeline.
        sizes = [int(tf.size(labels)) for _, labels in pipeline.take(3 * steps_per_epoch)]
        assert sizes == [BATCH_SIZE] * (3 * steps_per_epoch)


def test_a_step_returns_the_sum_of_its_images_losses_and_their_count():
    # An independent computation: Keras' own mean loss of the same model on the same batch, before the update.
    import keras
    import numpy as np
    import tensorflow as tf

    import starter

    strategy = tf.distribute.get_strategy()
    model = starter.build_cnn((8, 8, 1), 10, dropout=0.0)
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    rng = np.random.default_rng(0)
    images = rng.random((7, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 10, 7).astype("int64")
    expected_mean = float(starter.make_loss()(labels, model(images, training=True)))
    expected_right = int(np.sum(np.argmax(model(images).numpy(), axis=1) == labels))
    step = multi_worker_script.make_distributed_step(strategy, model, optimizer, global_batch_size=10)
    loss_sum, right, count = step(iter(tf.data.Dataset.from_tensors((images, labels)))).numpy()
    assert count == 7 and right == expected_right
    assert loss_sum / count == pytest.approx(expected_mean, rel=1e-5)
    assert multi_worker_script.epoch_means(np.array([loss_sum, right, count])) == [
        ("loss", pytest.approx(expected_mean, rel=1e-5)),
        ("accuracy", pytest.approx(expected_right / 7)),
    ]


def test_one_profile_holds_the_chiefs_host_with_step_markers(two_workers):
    chief = profiler_addresses(two_workers.stdout)[0]
    profiles = sorted(two_workers.run_dir.glob("plugins/profile/*/*.xplane.pb"))
    assert len({path.parent for path in profiles}) == 1
    assert [path.name for path in profiles] == [f"{chief.replace(':', '_')}.xplane.pb"]
    assert "The profile capture" not in two_workers.stdout
    for profile in profiles:
        steps = tb_read.step_numbers(profile)
        assert len(steps) >= 2, (profile.name, steps)


def test_the_profile_tab_lists_the_run_and_the_chiefs_host(two_workers):
    chief = profiler_addresses(two_workers.stdout)[0]
    with running_tensorboard(two_workers.run_dir.parent) as server:

        def runs_of_this_run():
            return [run for run in server.get(f"{PROFILE}/runs") if run.startswith(two_workers.run_dir.name)]

        server.wait_until(lambda: runs_of_this_run(), what="the profile run")
        (run,) = runs_of_this_run()
        hosts = server.get(f"{PROFILE}/hosts", run=run, tag="trace_viewer@")
        # The Overview page shows all hosts together; it must hold data, not "No profile data" (openxla/xprof#905).
        (all_hosts,) = server.get(f"{PROFILE}/hosts", run=run, tag="overview_page")
        overview = server.get(f"{PROFILE}/data", run=run, tag="overview_page", host=all_hosts["hostname"])
    assert [host["hostname"] for host in hosts] == [chief.replace(":", "_")]
    # Its step-time graph has rows: the profiled steps, found by their markers.
    (graph,) = [table for table in overview if table and (table.get("p") or {}).get("steptime_ms_average")]
    steps = [row["c"][0]["v"] for row in graph["rows"]]
    assert steps and all(re.fullmatch(r"train \d+", step) for step in steps), steps


def test_the_run_says_what_it_started_and_how_to_go_across_machines(two_workers):
    assert re.search(r"^Starting 2 workers on localhost:\d+, localhost:\d+;", two_workers.stdout, re.MULTILINE)
    assert "TF_CONFIG=" in two_workers.stdout and '"index": 1' in two_workers.stdout
    assert re.search(r"^worker 0 \| Test accuracy of the trained model: [0-9.]+$", two_workers.stdout, re.MULTILINE)
    # Only the chief's lines are shown.
    assert "worker 1 |" not in two_workers.stdout
    # A few short epochs: the first epoch's loss is an outlier that the Scalars tab's default scaling cuts off.
    assert plumbing.WHOLE_CURVE_NOTE in two_workers.stdout.splitlines()
    assert_no_process_left(str(two_workers.run_dir))


@pytest.mark.parametrize("all_workers", [False, True])
def test_profile_all_workers_captures_every_workers_address(monkeypatch, tmp_path, all_workers):
    captures = []
    monkeypatch.setattr(multi_worker_script, "capture_profile", lambda *args: captures.append(args))
    monkeypatch.setattr(multi_worker_script, "PROFILER_START_SECONDS", 0)
    args = multi_worker_script.make_parser().parse_args(["--profile-all-workers"] if all_workers else [])
    assert args.profile_all_workers is all_workers
    addresses = ["localhost:6001", "localhost:6002", "localhost:6003"]
    multi_worker_script.start_profile(True, addresses, tmp_path, args.profile_all_workers).join()
    (service_addresses, run_dir, _), *_ = captures
    captured = addresses if all_workers else addresses[:1]
    assert service_addresses == ",".join(f"grpc://{address}" for address in captured) and run_dir == tmp_path
    assert multi_worker_script.start_profile(False, addresses, tmp_path, all_workers) is None


def test_a_failed_or_endless_capture_is_one_line_from_the_chief(monkeypatch, tmp_path, capsys):
    release = threading.Event()

    def failing_trace(*args, **kwargs):
        raise RuntimeError("no profiler listens there\nsecond line")

    # One worker alone: the all-reduce of its own value is that value.
    monkeypatch.setattr(multi_worker_script, "all_reduce_sum", lambda strategy, value: value)
    monkeypatch.setattr(multi_worker_script, "PROFILER_START_SECONDS", 0)
    monkeypatch.setattr(multi_worker_script.tf.profiler.experimental.client, "trace", failing_trace)
    multi_worker_script.wait_for_the_capture(None, multi_worker_script.start_profile(True, ["localhost:1"], tmp_path))
    assert capsys.readouterr().out.splitlines()[-1] == "The profile capture failed: no profiler listens there"
    monkeypatch.setattr(multi_worker_script.tf.profiler.experimental.client, "trace", lambda *a, **k: release.wait())
    monkeypatch.setattr(multi_worker_script, "PROFILE_MILLISECONDS", 500)
    monkeypatch.setattr(multi_worker_script, "CAPTURE_MARGIN_SECONDS", 0.5)
    capture = multi_worker_script.start_profile(True, ["localhost:1"], tmp_path)
    multi_worker_script.wait_for_the_capture(None, capture)
    release.set()
    capture.join()
    assert capsys.readouterr().out.splitlines()[-1] == (
        "The profile capture did not end within 1 s; the run goes on without it."
    )


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_a_bad_number_of_workers_is_a_one_line_error(workers):
    result = run_python("15_multi_worker.py", "--workers", workers, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("15_multi_worker.py: error: argument --workers:")
    assert not python_noise(result.stderr)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_every_worker_and_exits_130(tmp_path, presses):
    # A second Ctrl-C, while the workers get their grace to stop, ends the launcher at once: it kills them first.
    code, stdout, stderr = interrupt_at(
        "15_multi_worker.py", ("--workers", "2"), "stdout", "Epoch 1/", presses, tmp_path
    )
    own_lines = [line for line in stderr.splitlines() if line.strip() and not TF_STARTUP_LINE.match(line)]
    assert code == ctrl_c.EXIT_CTRL_C, stderr[-3000:]
    assert own_lines == [ctrl_c.STOPPED_LINE], stderr[-3000:]
    assert "Logs written to" not in stdout
    # After a second Ctrl-C the workers were killed, not left to notice later that the launcher is gone.
    assert_no_process_left(str(tmp_path), timeout=30 if presses == 1 else 2)
    # What was logged is kept: each worker's log.
    assert len(list(tmp_path.glob("15_multi_worker/*/worker-*.log"))) == 2
