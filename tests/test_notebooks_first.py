"""The notebooks (first half): each runs top to bottom in a real Jupyter kernel, offline, and shows its tab inline.

The notebooks run in two test files, every other one in each, so that pytest-xdist's two processes share them.
This file also checks that every notebook is what tools/make_notebooks.py makes of its script today, and how the
generator lays a script out.
"""

import ast

import make_notebooks
import nbformat
import notebook_runner
import pytest
from conftest import assert_quiet


@pytest.mark.parametrize("notebook_path", notebook_runner.NOTEBOOKS[0::2], ids=lambda path: path.stem)
def test_the_notebook_runs_in_a_kernel_and_shows_its_tab(notebook_path, tmp_path):
    env = notebook_runner.activated_env()
    notebook, repository, tensorboard = notebook_runner.run_notebook(notebook_path, tmp_path, env)
    assert_quiet(notebook_runner.outputs_text(notebook))
    notebook_runner.check_notebook_run(notebook_path, notebook, repository, tensorboard)


def test_every_notebook_is_what_its_script_makes_today():
    stale, orphans = make_notebooks.out_of_date()
    assert not stale, f"out of date (run: python tools/make_notebooks.py): {[path.name for path in stale]}"
    assert not orphans, f"no script makes these notebooks: {[path.name for path in orphans]}"


def test_every_numbered_script_and_the_starter_have_a_notebook():
    names = {path.name for path in notebook_runner.NOTEBOOKS}
    lessons = {path.with_suffix(".ipynb").name for path in make_notebooks.ROOT.glob("[0-9][0-9]_*.py")}
    assert names == lessons | {"starter.ipynb"}


@pytest.mark.parametrize("script", make_notebooks.scripts(), ids=lambda path: path.stem)
def test_the_notebook_shows_the_script_in_reading_order(script):
    cells = make_notebooks.make_notebook(script).cells
    code = [cell.source for cell in cells if cell.cell_type == "code"]
    # The header docstring as Markdown, its title a heading; then the setup and the flags.
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "google.colab" in code[0] and code[1].endswith('FLAGS = ["--quick"]')
    # Every top-level function of the script is a cell of its own, in the script's order.
    tree = ast.parse(script.read_text(encoding="utf-8"))
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    defined = [
        node.name
        for source in code
        if "\n%" not in source  # not the %tensorboard cell: IPython syntax
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
    ]
    assert defined == functions
    # The main guard is the run cell, with the flags; a lesson ends with its tab.
    assert "__main__" not in "".join(code)
    if script.stem == "starter":
        assert code[-1].endswith("ctrl_c.run(main, FLAGS)")
    else:
        assert code[-2].endswith("ctrl_c.run(main, FLAGS)")
        assert "%load_ext tensorboard" in code[-1]
        assert f"%tensorboard --logdir logs/{script.stem}" in code[-1] or "newest_run" in code[-1]


def test_a_script_without_the_main_guard_is_refused(tmp_path):
    script = tmp_path / "99_broken.py"
    script.write_text('"""\nTitle: Broken\n"""\n\n\ndef main(argv=None):\n    pass\n')
    with pytest.raises(SystemExit):
        make_notebooks.make_notebook(script)


def test_the_notebooks_are_valid_nbformat_4():
    for path in notebook_runner.NOTEBOOKS:
        nbformat.validate(nbformat.read(path, as_version=4))
