"""
Title: The notebooks, generated from the scripts
Description: Writes notebooks/<script>.ipynb for starter.py and every numbered lesson (NN_*.py), one per script.

Run it:   python tools/make_notebooks.py          (after changing a script; a new NN_*.py gets its notebook too)
          python tools/make_notebooks.py --check  (exit 1 and name the notebooks that are out of date)
The notebooks are never edited by hand: the script is the source, and tests/test_notebooks.py fails when a
notebook differs from what this tool makes of its script. jupytext reads each script in its "light" format: a
top-level comment block followed by a blank line is a Markdown cell, each top-level statement group a code cell.
Each notebook holds, in reading order: the script's header docstring, as Markdown; the set-up cell (in Colab it
clones the repository from REPOSITORY and installs it; everywhere it moves to the repository's root); a flags
cell, `FLAGS = ["--quick"]`; the script's cells, its imports in one; `ctrl_c.run(main, FLAGS)` in place of the
main guard; and `%tensorboard` on the newest run, with the flags of the header's "View it:" command.
"""

import argparse
import ast
import json
import re
import shlex
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

# The command lines of a header docstring: `Run it:   python 01_callbacks.py   (or --quick ...)`.
COMMAND_LINE = re.compile(r"^(?P<label>Run it|View it):\s+(?P<rest>(?P<command>.+?)(\s{2,}.*)?)$")
# A line of a header docstring that starts a paragraph of its own (`TensorBoard tab: ...`).
LABEL_LINE = re.compile(r"^[A-Z][\w ,-]*:\s")
# The address Colab clones the repository from, written into every notebook's set-up cell (a form field there):
# https://github.com/<account>/<name> once the repository is published; empty, Colab asks for it in one line.
REPOSITORY = ""

NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}

# What the set-up cell says in Colab when its repository field is empty.
EMPTY_REPOSITORY_LINE = "Fill the repository field with its address: https://github.com/<account>/<name>."

SETUP_CELL = """\
# @title Set-up: the lesson runs from the repository's root, as on a terminal (in Colab, from a clone)
import os
import sys

repository = {address}  # @param {{type:"string"}}


class SetupError(Exception):
    def _render_traceback_(self):  # IPython shows this one line instead of a traceback
        return [str(self)]


if "google.colab" in sys.modules and not os.path.exists("lessons"):
    if not repository:
        raise SetupError({empty_line})
    if os.system(f"git clone -q --depth=1 {{repository}} lessons && pip install -qr lessons/requirements.txt"):
        raise SetupError(f"Could not clone {{repository}} or install it: correct the field, then run this again.")
for folder in ("..", "lessons"):  # Jupyter and VS Code start in notebooks/, Colab above its clone
    if not os.path.exists("starter.py") and os.path.exists(f"{{folder}}/starter.py"):
        os.chdir(folder)  # the kernel imports from its working directory: starter.py, plumbing.py, utils.py"""

FLAGS_CELL = """\
# The lesson's flags: "--quick" trains on a small subset for one epoch, in seconds; remove it for the full run.
# Add others as strings, such as "--epochs", "10"; make_parser().print_help(), once the cells below have run,
# lists them all. Keep the default --logdir: the TensorBoard cell at the end reads logs/.
FLAGS = ["--quick"]"""

# 16_export.py trains nothing: its flags say what to read and how to draw it, and it takes none of the lessons' own.
EXPORT_FLAGS_CELL = """\
# The export's flags, such as "--logdir", "logs/02_scalars_custom_loop" (default: all of logs/), "--tag",
# "batch_loss" or "--smoothing", "0"; make_parser().print_help(), once the cells below have run, lists them all.
FLAGS = []"""
FLAGS_CELLS = {"16_export": EXPORT_FLAGS_CELL}

RUN_CELL = """\
# Runs the lesson. The stop button (interrupt the kernel) stops it with one line and keeps what it has logged
# so far; the kernel, with everything defined above, stays.
ctrl_c.run(main, FLAGS)"""

# %tensorboard starts the `tensorboard` program on PATH: a kernel from a virtual environment that was never
# activated (VS Code starts one) has it only next to its Python, hence TENSORBOARD_BINARY. Each cell imports what
# it uses, so that it can be rerun alone after a restart.
LOAD_TENSORBOARD = """\
import os
import shutil
import sys
from pathlib import Path

next_to_python = shutil.which("tensorboard", path=os.path.dirname(sys.executable))
if shutil.which("tensorboard") is None and next_to_python:
    os.environ["TENSORBOARD_BINARY"] = next_to_python
%load_ext tensorboard"""

# The newest run is the directory that changed last (a run's name is its start time, but --run-dir may name one).
TENSORBOARD_CELL = """\
# The lesson's tab, on the run that the cell above has just written (the newest in {lesson_dir}).
# To compare it with earlier runs: --logdir {lesson_dir} (above 40 runs, click "Toggle all runs").
{load}
runs = [run for run in Path("{lesson_dir}").iterdir() if run.is_dir()]
newest_run = max(runs, key=lambda run: run.stat().st_mtime)
%tensorboard --logdir "{{newest_run}}"{other_flags}"""

# For a script whose "View it:" line names another directory than its own runs' (all of logs/, say).
PLAIN_TENSORBOARD_CELL = """\
# The script's tab, in the notebook.
{load}
%tensorboard {arguments}"""

# The import comment that only a terminal needs (a Ctrl-C during TensorFlow's import): not in the notebook.
CTRL_C_COMMENT = re.compile(r"^# ctrl_c first, before TensorFlow:.*\n", re.MULTILINE)

MAIN_GUARD_BODY = "ctrl_c.run(main)"


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def scripts(root=ROOT):
    """starter.py and every numbered lesson, in lesson order."""
    return [root / "starter.py", *sorted(root.glob("[0-9][0-9]_*.py"))]


def docstring_markdown(docstring, script_name):
    """The header docstring as Markdown: the Title as a heading, the prose (a paragraph from each labelled line,
    such as "TensorBoard tab:"), and the lines from "Run it:" on, the commands, in a code block as they are."""
    lines = docstring.strip().splitlines()
    title = lines.pop(0).removeprefix("Title:").strip()
    run_it = next((number for number, line in enumerate(lines) if COMMAND_LINE.match(line)), len(lines))
    prose = lines[:run_it]
    # A labelled line starts a paragraph of its own, unless a blank line already does.
    prose = [
        ("\n" if n and prose[n - 1].strip() and LABEL_LINE.match(line) else "") + line for n, line in enumerate(prose)
    ]
    texts = [f"# {title}", "\n".join(prose).removeprefix("Description: ").strip()]
    texts.append("```\n" + "\n".join(lines[run_it:]) + "\n```" if lines[run_it:] else "")
    texts.append(f"*This notebook is generated from `{script_name}` by `python tools/make_notebooks.py`.*")
    return "\n\n".join(text for text in texts if text)


def view_command(docstring):
    """The `tensorboard --logdir ...` command of the docstring's "View it:" line, or None."""
    for line in docstring.splitlines():
        match = COMMAND_LINE.match(line)
        if match and match["label"] == "View it":
            return match["command"].strip()
    return None


def tensorboard_cell(command, script_name):
    """The %tensorboard cell for a "View it:" command. For `tensorboard --logdir logs/<lesson>/<run> [flags]` the
    cell shows the lesson's newest run, with the same flags; for any other directory without a placeholder
    (`--logdir logs`), that directory."""
    words = shlex.split(command)
    if words[:2] != ["tensorboard", "--logdir"] or len(words) < 3:
        fail(f'{script_name}: its "View it:" line must start with `tensorboard --logdir`')
    lesson_dir = f"logs/{Path(script_name).stem}"
    other_flags = "".join(f" {shlex.quote(word)}" for word in words[3:])
    if words[2] == f"{lesson_dir}/<run>":
        return TENSORBOARD_CELL.format(lesson_dir=lesson_dir, other_flags=other_flags, load=LOAD_TENSORBOARD)
    if "<" in words[2]:
        fail(f'{script_name}: the only placeholder its "View it:" line may hold is --logdir {lesson_dir}/<run>')
    return PLAIN_TENSORBOARD_CELL.format(arguments=shlex.join(words[1:]), load=LOAD_TENSORBOARD)


def is_main_guard(node):
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def is_imports(source):
    body = ast.parse(source).body
    return bool(body) and all(isinstance(node, ast.Import | ast.ImportFrom) for node in body)


def script_cells(script):
    """The script's cells after its docstring, as [(cell_type, source)], with the main guard as the run cell.

    jupytext's light format makes the cells; consecutive cells of imports only are joined into one.
    """
    cells = [(cell.cell_type, cell.source) for cell in jupytext.read(script, fmt="py:light").cells]
    first = ast.parse(cells[0][1]).body if cells and cells[0][0] == "code" else []
    if not (len(first) == 1 and isinstance(first[0], ast.Expr) and isinstance(first[0].value, ast.Constant)):
        fail(f"{script.name} must start with its header docstring, followed by a blank line")
    guards = [index for index, (kind, source) in enumerate(cells) if kind == "code" and "__main__" in source]
    last = ast.parse(cells[-1][1]).body if guards == [len(cells) - 1] else []
    guard = last[0] if len(last) == 1 and is_main_guard(last[0]) and not last[0].orelse else None
    if guard is None or "\n".join(map(ast.unparse, guard.body)) != MAIN_GUARD_BODY:
        fail(f'{script.name} must end with `if __name__ == "__main__":` and `{MAIN_GUARD_BODY}` alone')
    result = []
    for kind, source in cells[1:-1]:
        if kind == "code" and result and result[-1][0] == "code" and is_imports(source) and is_imports(result[-1][1]):
            result[-1] = ("code", f"{result[-1][1]}\n\n{source}")
        else:
            result.append((kind, CTRL_C_COMMENT.sub("", source) if kind == "code" else source))
    return [*result, ("code", RUN_CELL)]


def make_notebook(script):
    """The notebook of one script, as an nbformat NotebookNode."""
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")), clean=True)
    if docstring is None:
        fail(f"{script.name} has no header docstring")
    setup_cell = SETUP_CELL.format(address=json.dumps(REPOSITORY), empty_line=json.dumps(EMPTY_REPOSITORY_LINE))
    cells = [
        nbformat.v4.new_markdown_cell(docstring_markdown(docstring, script.name)),
        nbformat.v4.new_code_cell(setup_cell),
        nbformat.v4.new_code_cell(FLAGS_CELLS.get(script.stem, FLAGS_CELL)),
    ]
    for kind, source in script_cells(script):
        new_cell = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cells.append(new_cell(source))
    command = view_command(docstring)
    if command is not None:
        cells.append(nbformat.v4.new_code_cell(tensorboard_cell(command, script.name)))
    # Fixed cell ids (nbformat draws random ones), so that the same script always gives the same file.
    for number, cell in enumerate(cells, start=1):
        cell.id = f"cell-{number}"
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=NOTEBOOK_METADATA)
    nbformat.validate(notebook)
    return notebook


def notebook_text(script):
    """The exact file content of the script's notebook."""
    return nbformat.writes(make_notebook(script)) + "\n"


def notebook_path(script, notebook_dir=NOTEBOOK_DIR):
    return notebook_dir / f"{script.stem}.ipynb"


def out_of_date(root=ROOT, notebook_dir=NOTEBOOK_DIR):
    """{notebook: its script} of the notebooks missing or unlike what their script makes; the notebooks of no script."""
    expected = {notebook_path(script, notebook_dir): script for script in scripts(root)}
    stale = {
        path: script
        for path, script in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != notebook_text(script)
    }
    return stale, sorted(set(notebook_dir.glob("*.ipynb")) - set(expected))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate notebooks/<script>.ipynb from the scripts.")
    parser.add_argument("--check", action="store_true", help="only say which notebooks are out of date")
    check = parser.parse_args(argv).check
    stale, orphans = out_of_date()
    for path, script in stale.items():
        if check:
            print(f"out of date: {path.relative_to(ROOT)} (run: python tools/make_notebooks.py)")
        else:
            NOTEBOOK_DIR.mkdir(exist_ok=True)
            path.write_text(notebook_text(script), encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    for path in orphans:
        print(f"no script makes {path.relative_to(ROOT)}: delete it")
    if check and (stale or orphans):
        raise SystemExit(1)
    print(f"The {len(scripts())} notebooks in notebooks/ are up to date.")


if __name__ == "__main__":
    main()
