"""The notebooks (second half): each runs top to bottom in a real Jupyter kernel, offline, and shows its tab inline.

One of them runs in a kernel with no `tensorboard` program on PATH, as VS Code starts a kernel from a virtual
environment that was never activated: the setup cell's TENSORBOARD_BINARY must still let %tensorboard start it.
"""

import shutil

import notebook_runner
import pytest
from conftest import assert_quiet

# The notebook that runs without `tensorboard` on PATH (a quick one).
WITHOUT_TENSORBOARD_ON_PATH = "05_graph"


@pytest.mark.parametrize("notebook_path", notebook_runner.NOTEBOOKS[1::2], ids=lambda path: path.stem)
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
    assert WITHOUT_TENSORBOARD_ON_PATH in [path.stem for path in notebook_runner.NOTEBOOKS[1::2]]
