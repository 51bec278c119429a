"""The notebooks (first half): each runs top to bottom in a real Jupyter kernel, offline, and shows its tab inline.

The notebooks run in two test files, every other one in each, so that pytest-xdist's two processes share them.
This file also checks that every notebook is what tools/make_notebooks.py makes of its script today, how the
generator lays a script out (prose and code cells, each lesson's at most 40 lines), and where Colab's cell takes the
repository's address from.
"""

import ast
import itertools
import shutil
import subprocess
import sys

import jupytext
import make_notebooks
import nbformat
import notebook_runner
import pytest
from conftest import assert_quiet

LESSON_NOTEBOOKS = [path for path in notebook_runner.NOTEBOOKS if path.stem[:2].isdigit()]


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
    # The header docstring as Markdown, its title a heading; then Colab's cell, the setup and the flags.
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    assert "google.colab" in code[0] and '  # @param {type:"string"}' in code[0]
    flags = "FLAGS = []" if script.stem == "16_export" else 'FLAGS = ["--quick"]'  # 16 trains nothing
    assert "TENSORBOARD_BINARY" in code[1] and code[2].endswith(flags)
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
    # The header, Colab's cell, the setup, the flags, the imports, LESSON, two steps, main, the run, the tab.
    assert kinds == ["markdown", *["code"] * 5, "markdown", "code", "markdown", *["code"] * 3]
    assert cells[4].source == "# ctrl_c first.\nimport ctrl_c\n\nimport os\n\nimport plumbing"
    assert cells[6].source == "## The data\n\nWhat the next function does, and why."
    assert cells[7].source.startswith("def load(args):\n    # An attached comment stays in the code.")
    assert cells[10].source.endswith("ctrl_c.run(main, FLAGS)")
    # The %tensorboard cell shows the newest run, with the header's extra flag.
    assert cells[11].source.endswith('%tensorboard --logdir "{newest_run}" --samples_per_plugin images=1000')
    assert 'Path("logs/99_sample")' in cells[11].source
    # The same notebook, byte for byte, every time.
    assert make_notebooks.notebook_text(script) == make_notebooks.notebook_text(script)


@pytest.mark.parametrize(
    ("logdir", "magic"),
    [
        # A header that still names the lesson's directory: the cell shows the newest run all the same.
        ("logs/99_sample", '%tensorboard --logdir "{newest_run}" --samples_per_plugin images=1000'),
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


@pytest.mark.parametrize(
    ("remote", "address"),
    [
        ("https://github.com/someone/tensorboard-every-tab.git", "https://github.com/someone/tensorboard-every-tab"),
        ("https://github.com/someone/tensorboard-every-tab/\n", "https://github.com/someone/tensorboard-every-tab"),
        ("git@github.com:someone/tensorboard-every-tab.git", "https://github.com/someone/tensorboard-every-tab"),
        ("ssh://git@github.com/someone/every-tab.git", "https://github.com/someone/every-tab"),
        ("http://gitlab.com/group/sub/every-tab", "https://gitlab.com/group/sub/every-tab"),
        # Credentials never reach a notebook.
        ("https://someone:a-token@github.com/someone/every-tab.git", "https://github.com/someone/every-tab"),
        # Local clones are not addresses that Colab can clone from.
        ("/work/main", None),
        ("../main", None),
        ("file:///work/main", None),
        ("C:\\Users\\someone\\every-tab", None),
        ("https://localhost/someone/every-tab", None),
        ("", None),
    ],
)
def test_a_remote_is_an_address_for_colab_only_when_it_is_public(remote, address):
    assert make_notebooks.public_address(remote) == address


def clone_of_this_repository(directory, origin):
    """The scripts, tools/make_notebooks.py and notebooks/ in a new git repository whose origin is `origin`."""
    (directory / "tools").mkdir(parents=True)
    (directory / "notebooks").mkdir()
    for script in make_notebooks.scripts():
        shutil.copy(script, directory)
    shutil.copy(make_notebooks.ROOT / "tools" / "make_notebooks.py", directory / "tools")
    for notebook in notebook_runner.NOTEBOOKS:
        shutil.copy(notebook, directory / "notebooks")
    subprocess.run(["git", "init", "--quiet", str(directory)], check=True)
    subprocess.run(["git", "-C", str(directory), "remote", "add", "origin", origin], check=True)
    return directory


def make_notebooks_in(clone, *args):
    return subprocess.run(
        [sys.executable, str(clone / "tools" / "make_notebooks.py"), *args], capture_output=True, text=True
    )


def test_the_address_comes_from_a_public_origin_and_check_answers_the_same_in_any_clone(tmp_path):
    # A CI clone: its origin is a local directory. The check passes and regenerating changes nothing.
    ci_clone = clone_of_this_repository(tmp_path / "ci", str(make_notebooks.ROOT))
    assert make_notebooks_in(ci_clone, "--check").returncode == 0
    result = make_notebooks_in(ci_clone)
    assert result.returncode == 0 and "wrote" not in result.stdout, result.stdout + result.stderr
    for notebook in notebook_runner.NOTEBOOKS:
        assert (ci_clone / "notebooks" / notebook.name).read_bytes() == notebook.read_bytes()

    # A learner's clone of a fork on GitHub: the check still passes (it compares what the scripts make, not the
    # address); regenerating writes the fork's address into every notebook's Colab field.
    fork = clone_of_this_repository(tmp_path / "fork", "git@github.com:learner/every-tab.git")
    assert make_notebooks_in(fork, "--check").returncode == 0
    assert make_notebooks_in(fork).returncode == 0
    notebooks = sorted((fork / "notebooks").glob("*.ipynb"))
    assert {make_notebooks.held_address(path) for path in notebooks} == {"https://github.com/learner/every-tab"}
    assert make_notebooks_in(fork, "--check").returncode == 0

    # Cloned again from there (a local origin), the address those notebooks hold is kept.
    subprocess.run(["git", "-C", str(fork), "remote", "set-url", "origin", str(ci_clone)], check=True)
    result = make_notebooks_in(fork)
    assert result.returncode == 0 and "wrote" not in result.stdout, result.stdout
    # A script that changes is out of date until it is regenerated, whatever the address.
    script = fork / "05_graph.py"
    script.write_text(script.read_text().replace("import plumbing\n", "import plumbing\n\n# A changed comment.\n"))
    checked = make_notebooks_in(fork, "--check")
    assert checked.returncode == 1 and "out of date: notebooks/05_graph.ipynb" in checked.stdout


def test_the_repository_flag_takes_only_a_public_address(capsys):
    with pytest.raises(SystemExit) as stopped:
        make_notebooks.main(["--repository", "/work/main"])
    assert stopped.value.code == 2
    assert "is not a public address" in capsys.readouterr().err.strip().splitlines()[-1]
