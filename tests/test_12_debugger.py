"""12_debugger.py: a small debug dump whose data agrees with the step the script says went wrong."""

import math
import re

import pytest

import starter

# FULL_HEALTH summarizes a tensor as [tensor id, device id, dtype, rank, element count, -inf count,
# +inf count, NaN count, negative, zero and positive finite counts].
NEG_INF, POS_INF, NAN = 5, 6, 7
# Most of a dump is a fixed copy of the TensorFlow and Keras source files on the ops' stack traces (about
# 7 MB); each training step adds about 80 KB, and the script stops after --max-steps (20) at the latest.
MAX_DUMP_BYTES = 10 * 1024 * 1024


def not_finite(health):
    return health[NEG_INF] + health[POS_INF] + health[NAN] > 0


# The eager ops a training loop over a tf.data pipeline runs: making the iterator, and the next batch.
ITERATOR_OPS = {"AnonymousIteratorV3", "MakeIterator", "IteratorGetNext"}


def read_dump(dump_dir):
    """(the train_step calls in order, the graph execution traces) of a tfdbg2 dump."""
    from tensorflow.python.debug.lib import debug_events_reader

    with debug_events_reader.DebugDataReader(str(dump_dir)) as reader:
        reader.update()
        calls = [execution for execution in reader.executions() if "train_step" in execution.op_type]
        return calls, reader.graph_execution_traces()


def dump_bytes(dump_dir):
    return sum(path.stat().st_size for path in dump_dir.iterdir())


@pytest.fixture(scope="module")
def failing_run(run_script):
    return run_script("12_debugger.py")


def reported_step(stdout):
    match = re.search(r"^The loss of training step (\d+) is (inf|nan): training stopped there\.$", stdout, re.MULTILINE)
    assert match, stdout[-2000:]
    return int(match.group(1))


def test_the_view_command_serves_the_dump_directory_itself(failing_run):
    # Debugger V2 reads only the root of --logdir, so the command must name the dump directory.
    assert f"tensorboard --logdir {failing_run.run_dir}\n" in failing_run.stdout
    assert {path.suffix for path in failing_run.run_dir.iterdir()} >= {
        ".execution",
        ".graph_execution_traces",
        ".graphs",
        ".source_files",
        ".stack_frames",
        ".metadata",
    }


def test_it_says_where_debugger_v2_is_on_the_page_and_which_alert_to_click(failing_run):
    # Debugger V2 is never an active plugin (its is_active() is False), so it sits in the INACTIVE menu; the
    # alert is what leads to the op, as the browser test in test_tensorboard_e2e.py clicks it.
    lines = failing_run.stdout.splitlines()
    view = lines.index(f"View them:  tensorboard --logdir {failing_run.run_dir}")
    assert lines[view + 1] == (
        "Then open http://localhost:6006 and the Debugger V2 tab, from the INACTIVE menu at the top right."
    )
    assert (
        lines[view + 2] == 'In Debugger V2, click the "NaN/∞" alert: it leads to the first op that made an inf, Log:0.'
    )


def test_no_note_on_max_steps_when_the_epochs_end_first(failing_run):
    # 16 batches of --quick in one epoch, under the default --max-steps of 20.
    assert "--max-steps" not in failing_run.stdout


def test_the_dump_holds_only_the_training(failing_run):
    # The model, the optimizer's variables, the pipeline and its length are made before the dump starts: what it
    # records eagerly is the loop's iterator and the calls of train_step.
    from tensorflow.python.debug.lib import debug_events_reader

    with debug_events_reader.DebugDataReader(str(failing_run.run_dir)) as reader:
        reader.update()
        eager_ops = {execution.op_type for execution in reader.executions()}
    assert {op for op in eager_ops if "train_step" not in op} <= ITERATOR_OPS, eager_ops


def test_the_dump_is_small(failing_run):
    assert dump_bytes(failing_run.run_dir) < MAX_DUMP_BYTES


def test_the_reported_step_is_the_first_call_whose_loss_is_not_finite(failing_run):
    step = reported_step(failing_run.stdout)
    calls, _ = read_dump(failing_run.run_dir)
    # The script stops right after the bad step: the dump holds exactly that many calls of train_step.
    assert len(calls) == step
    # Each call's only output is the loss; its health says whether it was finite.
    losses = [call.debug_tensor_values[0] for call in calls]
    assert not_finite(losses[-1])
    assert not any(not_finite(loss) for loss in losses[:-1])


def test_the_first_op_to_produce_inf_is_the_log_of_the_hand_written_loss_in_that_step(failing_run):
    step = reported_step(failing_run.stdout)
    _, traces = read_dump(failing_run.run_dir)
    first_bad = next(index for index, trace in enumerate(traces) if not_finite(trace.debug_tensor_value))
    assert traces[first_bad].op_type == "Log"
    assert traces[first_bad].debug_tensor_value[NEG_INF] > 0
    # Every call runs the same graph, so the traces split into equal parts, one per step.
    assert len(traces) % step == 0
    assert first_bad // (len(traces) // step) == step - 1


def test_a_sensible_learning_rate_stays_finite_says_so_and_stops_at_max_steps(run_script):
    max_steps = 20
    assert max_steps < 2 * math.ceil(starter.QUICK_TRAIN_EXAMPLES / 64)
    run = run_script("12_debugger.py", "--learning-rate", "0.001", "--epochs", "2", "--max-steps", str(max_steps))
    assert f"The loss stayed finite for all {max_steps} steps" in run.stdout
    # --max-steps caps --epochs here, and the script says so before it trains.
    steps_per_epoch = math.ceil(starter.QUICK_TRAIN_EXAMPLES / 64)
    note = (
        f"Note: --max-steps {max_steps} stops training after at most {max_steps} of the {2 * steps_per_epoch} "
        f"steps of --epochs 2 ({steps_per_epoch} batches an epoch).\n"
    )
    assert note in run.stdout
    assert run.stdout.index(note) < run.stdout.index("Epoch 1/2")
    assert "training stopped" not in run.stdout
    calls, traces = read_dump(run.run_dir)
    assert len(calls) == max_steps
    assert not any(not_finite(call.debug_tensor_values[0]) for call in calls)
    assert not any(not_finite(trace.debug_tensor_value) for trace in traces)
    assert dump_bytes(run.run_dir) < MAX_DUMP_BYTES
