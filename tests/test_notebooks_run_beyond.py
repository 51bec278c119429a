"""The notebooks beyond the video (09 onwards) run: each top to bottom in a real Jupyter kernel, offline, showing its
tab inline. test_notebooks_run_video.py runs the others, in pytest-xdist's other process.
"""

import pytest

from support import notebook_runner
from support.scripts import assert_quiet


@pytest.mark.parametrize("notebook_path", notebook_runner.BEYOND_NOTEBOOKS, ids=lambda path: path.stem)
def test_the_notebook_runs_in_a_kernel_and_shows_its_tab(notebook_path, tmp_path):
    env = notebook_runner.activated_env()
    notebook, repository, tensorboard = notebook_runner.run_notebook(notebook_path, tmp_path, env)
    assert_quiet(notebook_runner.outputs_text(notebook))
    notebook_runner.check_notebook_run(notebook_path, notebook, repository, tensorboard)
