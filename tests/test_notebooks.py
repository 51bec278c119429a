"""The notebooks as files: every notebook is what tools/make_notebooks.py makes of its script today, how the
generator lays a script out (prose and code cells, each lesson's at most 40 lines), and where Colab's cell takes the
repository's address from. test_notebooks_run_*.py run them in a kernel.
"""

import ast
import itertools
import json

import jupytext
import nbformat
import pytest

import make_notebooks
from support import notebook_runner

LESSON_NOTEBOOKS = [path for path in notebook_runner.NOTEBOOKS if path.stem[:2].isdigit()]


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
    # The header docstring as Markdown, its title a heading; then the set-up (Colab's too) and the flags: at most
    # 15 lines of code before the lesson's own cells, and no comment meant for a terminal.
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "google.colab" in code[0] and '  # @param {type:"string"}' in code[0]
    assert code[1].endswith("FLAGS = []" if script.stem == "16_export" else 'FLAGS = ["--quick"]')  # 16 trains nothing
    code_lines = [line for line in "\n".join(code[:2]).splitlines() if line.strip() and not line.startswith("#")]
    assert len(code_lines) <= 15, code_lines
    assert not any("# ctrl_c first" in source for source in code)
    # Every top-level function of the script is defined in a cell, in the script's order.
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
    # The script's prose comment blocks are the Markdown cells after the header, in the script's order.
    prose = [cell.source for cell in jupytext.read(script, fmt="py:light").cells if cell.cell_type == "markdown"]
    markdown = [cell.source for cell in cells[1:] if cell.cell_type == "markdown"]
    assert len(markdown) == len(prose)
    assert all(text == source or text.startswith("## ") for text, source in zip(markdown, prose, strict=True))
    # The imports share a cell: no two code cells in a row hold imports only.
    for first, second in itertools.pairwise(cells):
        assert not (imports_only(first) and imports_only(second)), (first.source, second.source)
    # The main guard is the run cell, with the flags; a lesson ends with its tab.
    assert "__main__" not in "".join(code)
    if script.stem == "starter":
        assert code[-1].endswith("ctrl_c.run(main, FLAGS)")
    else:
        assert code[-2].endswith("ctrl_c.run(main, FLAGS)")
        assert "%load_ext tensorboard" in code[-1]
        assert "\n%tensorboard --logdir " in code[-1]


def imports_only(cell):
    if cell.cell_type != "code" or "\n%" in cell.source:
        return False
    body = ast.parse(cell.source).body
    return bool(body) and all(isinstance(node, ast.Import | ast.ImportFrom) for node in body)


# A lesson notebook reads as a tutorial: prose cells between the code, and code cells short enough to read.
MIN_PROSE_CELLS = 4
MAX_CODE_CELL_LINES = 40


@pytest.mark.parametrize("notebook_path", LESSON_NOTEBOOKS, ids=lambda path: path.stem)
def test_a_lesson_notebook_alternates_prose_and_short_code_cells(notebook_path):
    cells = nbformat.read(notebook_path, as_version=4).cells
    problems = [
        f"{cell.id} is a code cell of {len(cell.source.splitlines())} lines, over {MAX_CODE_CELL_LINES} "
        f"(it starts {cell.source.splitlines()[0]!r})"
        for cell in cells
        if cell.cell_type == "code" and len(cell.source.splitlines()) > MAX_CODE_CELL_LINES
    ]
    prose = [cell for cell in cells[1:] if cell.cell_type == "markdown"]
    if len(prose) < MIN_PROSE_CELLS:
        problems.append(f"{len(prose)} prose cells besides the header, fewer than {MIN_PROSE_CELLS}")
    assert not problems, f"{notebook_path.name} (from its script's prose comment blocks): " + "; ".join(problems)


# A lesson in the literate shape, with a header that names the run's own directory and an extra TensorBoard flag.
SAMPLE_LESSON = '''"""
Title: A sample lesson
Description: One sentence.

TensorBoard tab: Images.
Run it:   python 99_sample.py          (or --quick for a smoke test)
View it:  tensorboard --logdir logs/99_sample/<run> --samples_per_plugin images=1000     (printed at the end)
"""

# ctrl_c first.
import ctrl_c

import os

import plumbing

LESSON = "99_sample"

# ## The data
#
# What the next function does, and why.


def load(args):
    # An attached comment stays in the code.
    return os.getcwd()


# ## The callback
#
# The crucial piece.


def main(argv=None):
    return load(plumbing.start(plumbing.make_parser("x"), argv))


if __name__ == "__main__":
    ctrl_c.run(main)
'''


def test_a_literate_lesson_becomes_prose_and_code_cells(tmp_path):
    script = tmp_path / "99_sample.py"
    script.write_text(SAMPLE_LESSON)
    cells = make_notebooks.make_notebook(script).cells
    kinds = [cell.cell_type for cell in cells]
    # The header, the set-up, the flags, the imports, LESSON, two steps, main, the run, the tab.
    assert kinds == ["markdown", *["code"] * 4, "markdown", "code", "markdown", *["code"] * 3]
    assert cells[3].source == "# ctrl_c first.\nimport ctrl_c\n\nimport os\n\nimport plumbing"
    assert cells[5].source == "## The data\n\nWhat the next function does, and why."
    assert cells[6].source.startswith("def load(args):\n    # An attached comment stays in the code.")
    assert cells[9].source.endswith("ctrl_c.run(main, FLAGS)")
    # The %tensorboard cell shows the newest run, with the header's extra flag.
    assert cells[10].source.endswith('%tensorboard --logdir "{newest_run}" --samples_per_plugin images=1000')
    assert 'Path("logs/99_sample")' in cells[10].source and "TENSORBOARD_BINARY" in cells[10].source
    # The same notebook, byte for byte, every time.
    assert make_notebooks.notebook_text(script) == make_notebooks.notebook_text(script)


@pytest.mark.parametrize(
    ("logdir", "magic"),
    [
        # The lessons' form, the run's directory: the cell shows the lesson's newest run.
        ("logs/99_sample/<run>", '%tensorboard --logdir "{newest_run}" --samples_per_plugin images=1000'),
        # A script that shows another directory than its own runs' (all of logs/): that directory.
        ("logs", "%tensorboard --logdir logs --samples_per_plugin images=1000"),
    ],
)
def test_the_tensorboard_cell_follows_the_header_s_logdir(tmp_path, logdir, magic):
    script = tmp_path / "99_sample.py"
    script.write_text(SAMPLE_LESSON.replace("logs/99_sample/<run>", logdir))
    (cell,) = [cell for cell in make_notebooks.make_notebook(script).cells if "%load_ext tensorboard" in cell.source]
    assert cell.source.endswith(magic)


def test_a_header_with_another_placeholder_is_refused(tmp_path):
    script = tmp_path / "99_sample.py"
    script.write_text(SAMPLE_LESSON.replace("logs/99_sample/<run>", "logs/<lesson>/<run>"))
    with pytest.raises(SystemExit):
        make_notebooks.make_notebook(script)


def test_a_script_without_the_main_guard_is_refused(tmp_path):
    script = tmp_path / "99_broken.py"
    script.write_text('"""\nTitle: Broken\n"""\n\n\ndef main(argv=None):\n    pass\n')
    with pytest.raises(SystemExit):
        make_notebooks.make_notebook(script)


def test_the_notebooks_are_valid_nbformat_4():
    for path in notebook_runner.NOTEBOOKS:
        nbformat.validate(nbformat.read(path, as_version=4))


# ---------------------------------------------------------------------------------------------------
# The repository's address in Colab's cell
# ---------------------------------------------------------------------------------------------------


def test_no_notebook_holds_a_placeholder_address():
    for path in [*notebook_runner.NOTEBOOKS, make_notebooks.ROOT / "tools" / "make_notebooks.py"]:
        assert "OWNER" not in path.read_text(encoding="utf-8"), path.name


def test_every_notebook_s_colab_field_holds_the_one_address_the_generator_has():
    field = f'repository = {json.dumps(make_notebooks.REPOSITORY)}  # @param {{type:"string"}}'
    for path in notebook_runner.NOTEBOOKS:
        (setup,) = [cell for cell in nbformat.read(path, as_version=4).cells if "# @param" in cell.source]
        assert field in setup.source.splitlines(), path.name
