"""05_graph.py: the op graph of each traced tf.function, as the Graphs tab reads it."""

import pytest
import tb_read


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


def test_profile_flag_records_a_profile_of_each_call_without_profiler_errors(run_script):
    profiled = run_script("05_graph.py", "--profile")
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
