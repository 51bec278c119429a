"""05_graph.py: the op graph of each traced tf.function, as the Graphs tab reads it."""

import re

import pytest

from support import tb_read


@pytest.fixture(scope="module")
def graph_run(run_script):
    return run_script("05_graph.py")


def test_function_run_holds_the_matmul_relu_graph(graph_run):
    run = tb_read.load(graph_run.run_dir / "function")
    ops = tb_read.run_graph_ops(run)
    assert {"MatMul", "Relu"} <= ops
    # Only the function: no summary writes or model ops leak into its graph.
    assert not ops & {"Conv2D", "WriteSummary"}, ops


def test_model_run_holds_the_cnn_forward_pass_and_nothing_else(graph_run):
    run = tb_read.load(graph_run.run_dir / "model")
    ops = tb_read.run_graph_ops(run)
    assert {"Conv2D", "MaxPool", "MatMul", "BiasAdd"} <= ops
    assert not ops & {"Relu6", "WriteSummary"}, ops
    # Dropout is off in the forward pass (training=False), so no random ops are traced.
    assert not any(op.startswith("RandomUniform") or op.startswith("StatelessRandom") for op in ops), ops


def test_it_sends_the_learner_to_the_graphs_tab_and_names_the_runs_of_its_run_menu(graph_run):
    assert re.search(r"^Then open http://localhost:6006 and the Graphs tab\.$", graph_run.stdout, re.MULTILINE)
    (hint,) = [line for line in graph_run.stdout.splitlines() if "Run menu" in line]
    named = re.findall(r'"([^"]+)"', hint)
    # Each run the line names holds an op graph, and every run with one is named.
    with_a_graph = {path.parent.name for path in graph_run.run_dir.rglob("events.out.tfevents.*")}
    assert sorted(named) == sorted(with_a_graph) == ["function", "model"]
    for name in named:
        assert tb_read.run_graph_ops(tb_read.load(graph_run.run_dir / name))
    assert "Profile tab" not in graph_run.stdout


def test_profile_flag_records_a_profile_of_each_call_without_profiler_errors(run_script):
    profiled = run_script("05_graph.py", "--profile")
    assert 'The Profile tab holds a profile of each call, under the runs "function" and "model".' in profiled.stdout
    # TF 2.21's trace_export would stop the profiler twice, and say so.
    assert "Error while stopping profiler" not in profiled.stderr + profiled.stdout
    for name in ("function", "model"):
        profiles = list((profiled.run_dir / name / "plugins" / "profile").glob("*/*.xplane.pb"))
        assert len(profiles) == 1, name
        assert profiles[0].stat().st_size > 1000
    # The Graphs tab still shows exactly each run's own op graph, with no graphs collected by a trace.
    for name, ops in (("function", {"MatMul", "Relu"}), ("model", {"Conv2D", "MaxPool"})):
        run = tb_read.load(profiled.run_dir / name)
        assert ops <= tb_read.run_graph_ops(run)
        # No tag of a trace (trace_export writes its graphs under the graph_run_metadata_graph plugin).
        with pytest.raises(KeyError):
            run.PluginTagToContent("graph_run_metadata_graph")
