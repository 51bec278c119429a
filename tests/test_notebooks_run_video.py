"""The notebooks of the video's lessons (the starter, 01 to 08) run: each top to bottom in a real Jupyter kernel,
offline, showing its tab inline. test_notebooks_run_beyond.py runs the others, in pytest-xdist's other process.

One of them runs in a kernel with no `tensorboard` program on PATH, as VS Code starts a kernel from a virtual
environment that was never activated: the setup cell's TENSORBOARD_BINARY must still let %tensorboard start it.
Colab's cell is checked in a kernel too: outside Colab it does nothing; in Colab with an empty repository field it
stops with one line that says what to type.
"""

import json
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

import make_notebooks
from support import notebook_runner
from support.scripts import assert_quiet

# The notebook that runs without `tensorboard` on PATH (a quick one).
WITHOUT_TENSORBOARD_ON_PATH = "05_graph"


@pytest.mark.parametrize("notebook_path", notebook_runner.VIDEO_NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_in_a_kernel_and_shows_its_tab(notebook_path, tmp_path):
    if notebook_path.stem == WITHOUT_TENSORBOARD_ON_PATH:
        env = notebook_runner.env_without_tensorboard()
        assert shutil.which("tensorboard", path=env["PATH"]) is None
    else:
        env = notebook_runner.activated_env()
    notebook, repository, tensorboard = notebook_runner.run_notebook(notebook_path, tmp_path, env)
    assert_quiet(notebook_runner.outputs_text(notebook))
    notebook_runner.check_notebook_run(notebook_path, notebook, repository, tensorboard)


def test_one_notebook_runs_without_tensorboard_on_path():
    assert WITHOUT_TENSORBOARD_ON_PATH in [path.stem for path in notebook_runner.VIDEO_NOTEBOOKS]


def test_colab_s_cell_with_an_empty_field_stops_with_one_line_that_says_what_to_type(tmp_path):
    notebook = nbformat.read(notebook_runner.NOTEBOOKS[0], as_version=4)
    (colab_cell,) = [cell for cell in notebook.cells if '  # @param {type:"string"}' in cell.source]
    field = f"repository = {json.dumps(make_notebooks.REPOSITORY)}  #"
    assert field in colab_cell.source
    source = colab_cell.source.replace(field, 'repository = ""  #')
    test_notebook = nbformat.v4.new_notebook(
        cells=[
            # Outside Colab the cell does nothing, whatever its field holds.
            nbformat.v4.new_code_cell(colab_cell.source),
            # In Colab (google.colab imported), with the field empty.
            nbformat.v4.new_code_cell(
                "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')"
            ),
            nbformat.v4.new_code_cell(source),
            nbformat.v4.new_code_cell("import os\nprint(os.getcwd())"),
        ]
    )
    client = NotebookClient(
        test_notebook, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outside, _, in_colab, where = (cell.outputs for cell in test_notebook.cells)
    assert outside == []
    (error,) = in_colab
    assert error.output_type == "error" and error.ename == "SetupError"
    # What the learner sees: the traceback IPython shows, here one line and no Python frames.
    assert error.traceback == [make_notebooks.EMPTY_REPOSITORY_LINE]
    assert "repository field" in error.traceback[0] and "https://github.com/" in error.traceback[0]
    # Nothing was cloned and the kernel stayed where it was.
    assert where[0].text.strip() == str(tmp_path)
