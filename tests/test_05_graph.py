"""05_graph.py: the op graph of each traced tf.function, as the Graphs tab reads it."""

import pytest
import tb_read


@pytest.fixture(scope="module")
def graph_run(run_script):
    return run_script("05_graph.py")


def _all_ops(graphs):
    return set().union(*graphs)


def test_function_run_holds_the_matmul_relu_graph(graph_run):
    run = tb_read.load(graph_run.run_dir / "function")
    assert "relu_matmul" in tb_read.plugin_tags(run, "graph_run_metadata_graph")
    graphs = tb_read.traced_graph_ops(run, "relu_matmul")
    assert len(graphs) == 1, "the Graphs tab would show more than the function"
    assert {"MatMul", "Relu"} <= graphs[0]


def test_model_run_holds_the_cnn_forward_pass_and_nothing_else(graph_run):
    run = tb_read.load(graph_run.run_dir / "model")
    graphs = tb_read.traced_graph_ops(run, "cnn_forward_pass")
    assert {"Conv2D", "MaxPool", "MatMul", "BiasAdd"} <= _all_ops(graphs)
    # Graphs that ran after the first export (its summary write) must not leak into this trace.
    assert len(graphs) == 1 and "WriteSummary" not in graphs[0]


def test_profile_flag_records_a_profile_of_each_call_without_profiler_errors(run_script):
    profiled = run_script("05_graph.py", "--profile")
    # TF 2.21's trace_export stops a profiler started by trace_on(profiler=True) twice, and says so.
    assert "Error while stopping profiler" not in profiled.stderr + profiled.stdout
    for name in ("function", "model"):
        profiles = list((profiled.run_dir / name / "plugins" / "profile").glob("*/*.xplane.pb"))
        assert len(profiles) == 1, name
        assert profiles[0].stat().st_size > 1000
    graphs = tb_read.traced_graph_ops(tb_read.load(profiled.run_dir / "function"), "relu_matmul")
    assert len(graphs) == 1 and {"MatMul", "Relu"} <= graphs[0]
