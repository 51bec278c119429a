"""The notebooks (second half): each runs top to bottom in a real Jupyter kernel, offline, and shows its tab inline.

One of them runs in a kernel with no `tensorboard` program on PATH, as VS Code starts a kernel from a virtual
environment that was never activated: the setup cell's TENSORBOARD_BINARY must still let %tensorboard start it.
"""

import shutil

import pytest
from conftest import assert_quiet

import notebooks

# The notebook that runs without `tensorboard` on PATH (a quick one).
WITHOUT_TENSORBOARD_ON_PATH = "05_graph"


@pytest.mark.parametrize("notebook_path", notebooks.NOTEBOOKS[1::2], ids=lambda path: path.stem)
def test_the_notebook_runs_in_a_kernel_and_shows_its_tab(notebook_path, tmp_path):
    if notebook_path.stem == WITHOUT_TENSORBOARD_ON_PATH:
        env = notebooks.env_without_tensorboard()
        assert shutil.which("tensorboard", path=env["PATH"]) is None
    else:
        env = notebooks.activated_env()
    notebook, repository, tensorboard = notebooks.run_notebook(notebook_path, tmp_path, env)
    assert_quiet(notebooks.outputs_text(notebook))
    notebooks.check_notebook_run(notebook_path, notebook, repository, tensorboard)


def test_one_notebook_runs_without_tensorboard_on_path():
    assert WITHOUT_TENSORBOARD_ON_PATH in [path.stem for path in notebooks.NOTEBOOKS[1::2]]
