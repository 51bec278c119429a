"""
Title: The notebooks, generated from the scripts
Description: Writes notebooks/<script>.ipynb for starter.py and each lesson (NN_*.py): jupytext makes a comment block
a Markdown cell, a statement group a code cell; around them come the header, set-up, flags, run and %tensorboard cells.

Run it:   python tools/make_notebooks.py          (after changing a script; a new NN_*.py gets its notebook too)
          python tools/make_notebooks.py --check  (exit 1 and name the notebooks that are out of date)
"""

import argparse
import ast
import json
import re
import shlex
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

# A header's command lines (`Run it:   python 01_callbacks.py   (or --quick ...)`) and its labelled lines.
COMMAND_LINE = re.compile(r"^(?P<label>Run it|View it):\s+(?P<command>.+?)(\s{2,}.*)?$")
LABEL_LINE = re.compile(r"^[A-Z][\w ,-]*:\s")
# The address Colab clones (https://github.com/<account>/<name> once published); empty, Colab asks for it.
REPOSITORY = ""
EMPTY_REPOSITORY_LINE = "Fill the repository field with its address: https://github.com/<account>/<name>."
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
METADATA = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}

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
EXPORT_FLAGS_CELL = """\
# The export's flags, such as "--logdir", "logs/02_scalars_custom_loop" (default: all of logs/), "--tag",
# "batch_loss" or "--smoothing", "0"; make_parser().print_help(), once the cells below have run, lists them all.
FLAGS = []"""  # 16_export.py trains nothing and takes none of the lessons' flags

RUN_CELL = """\
# Runs the lesson. The stop button (interrupt the kernel) stops it with one line and keeps what it has logged
# so far; the kernel, with everything defined above, stays.
ctrl_c.run(main, FLAGS)"""

# A kernel of a never-activated venv (VS Code's) has `tensorboard` only next to its Python; the cell can rerun alone.
LOAD_TENSORBOARD = """\
import os
import shutil
import sys
from pathlib import Path

next_to_python = shutil.which("tensorboard", path=os.path.dirname(sys.executable))
if shutil.which("tensorboard") is None and next_to_python:
    os.environ["TENSORBOARD_BINARY"] = next_to_python
%load_ext tensorboard"""
TENSORBOARD_CELL = """\
# The lesson's tab, on the run that the cell above has just written (the newest in {lesson_dir}).
# To compare it with earlier runs: --logdir {lesson_dir} (above 40 runs, click "Toggle all runs").
{load}
runs = [run for run in Path("{lesson_dir}").iterdir() if run.is_dir()]
newest_run = max(runs, key=lambda run: run.stat().st_mtime)
%tensorboard --logdir "{{newest_run}}"{other_flags}"""

# The terminal-only import comment (a Ctrl-C during TensorFlow's import) and the main guard's one statement.
CTRL_C_COMMENT = re.compile(r"^# ctrl_c first, before TensorFlow:.*\n", re.MULTILINE)
MAIN_GUARD = "if __name__ == '__main__':\n    ctrl_c.run(main)"


def fail(message):
    raise SystemExit(f"error: {message}")  # the message on stderr, exit status 1


def scripts(root=ROOT):
    """starter.py and every numbered lesson, in lesson order."""
    return [root / "starter.py", *sorted(root.glob("[0-9][0-9]_*.py"))]


def docstring_markdown(docstring, script_name):
    """The header as Markdown: the Title as a heading, the prose, and the lines from "Run it:" on as code."""
    lines = docstring.strip().splitlines()
    title = lines.pop(0).removeprefix("Title:").strip()
    run_it = next((number for number, line in enumerate(lines) if COMMAND_LINE.match(line)), len(lines))
    for n in range(1, run_it):  # a labelled line ("TensorBoard tab: ...") starts a paragraph, if no blank line does
        if lines[n - 1].strip() and LABEL_LINE.match(lines[n]):
            lines[n] = "\n" + lines[n]
    texts = [f"# {title}", "\n".join(lines[:run_it]).removeprefix("Description: ").strip()]
    texts.append("```\n" + "\n".join(lines[run_it:]) + "\n```" if lines[run_it:] else "")
    texts.append(f"*This notebook is generated from `{script_name}` by `python tools/make_notebooks.py`.*")
    return "\n\n".join(text for text in texts if text)


def tensorboard_cell(docstring, script_name):
    """The %tensorboard cell of the "View it:" command (None without one); logs/<lesson>/<run>: the newest run."""
    commands = [m["command"] for m in map(COMMAND_LINE.match, docstring.splitlines()) if m and m["label"] == "View it"]
    if not commands:
        return None
    words = shlex.split(commands[0])
    if words[:2] != ["tensorboard", "--logdir"] or len(words) < 3:
        fail(f'{script_name}: its "View it:" line must start with `tensorboard --logdir`')
    lesson_dir = f"logs/{Path(script_name).stem}"
    if words[2] == f"{lesson_dir}/<run>":
        other_flags = "".join(f" {shlex.quote(word)}" for word in words[3:])
        return TENSORBOARD_CELL.format(lesson_dir=lesson_dir, other_flags=other_flags, load=LOAD_TENSORBOARD)
    if "<" in words[2]:
        fail(f'{script_name}: the only placeholder its "View it:" line may hold is --logdir {lesson_dir}/<run>')
    return f"# The script's tab, in the notebook.\n{LOAD_TENSORBOARD}\n%tensorboard {shlex.join(words[1:])}"


def is_imports(source):
    body = ast.parse(source).body
    return bool(body) and all(isinstance(node, ast.Import | ast.ImportFrom) for node in body)


def script_cells(script):
    """The header docstring and the cells after it, [(cell_type, source)], imports in one, the main guard run."""
    cells = [(cell.cell_type, cell.source) for cell in jupytext.read(script, fmt="py:light").cells]
    head = ast.parse(cells[0][1] if cells and cells[0][0] == "code" else "")
    if len(head.body) != 1 or (docstring := ast.get_docstring(head, clean=True)) is None:
        fail(f"{script.name} must start with its header docstring, followed by a blank line")
    guards = [index for index, (kind, source) in enumerate(cells) if kind == "code" and "__main__" in source]
    if guards != [len(cells) - 1] or ast.unparse(ast.parse(cells[-1][1])) != MAIN_GUARD:
        fail(f'{script.name} must end with `if __name__ == "__main__":` and `ctrl_c.run(main)` alone')
    result = []
    for kind, source in cells[1:-1]:
        if kind == "code" and result and result[-1][0] == "code" and is_imports(source) and is_imports(result[-1][1]):
            result[-1] = ("code", f"{result[-1][1]}\n\n{source}")
        else:
            result.append((kind, CTRL_C_COMMENT.sub("", source) if kind == "code" else source))
    return docstring, [*result, ("code", RUN_CELL)]


def make_notebook(script):
    """The notebook of one script, as an nbformat NotebookNode, with fixed cell ids (the same script, same file)."""
    docstring, body = script_cells(script)
    cells = [
        ("markdown", docstring_markdown(docstring, script.name)),
        ("code", SETUP_CELL.format(address=json.dumps(REPOSITORY), empty_line=json.dumps(EMPTY_REPOSITORY_LINE))),
        ("code", EXPORT_FLAGS_CELL if script.stem == "16_export" else FLAGS_CELL),
        *body,
        ("code", tensorboard_cell(docstring, script.name)),
    ]
    new_cell = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    cells = [new_cell[kind](source, id=f"cell-{n}") for n, (kind, source) in enumerate(cells, 1) if source is not None]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata=METADATA)
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
    found = {path: path.read_text(encoding="utf-8") for path in notebook_dir.glob("*.ipynb")}
    stale = {path: script for path, script in expected.items() if found.get(path) != notebook_text(script)}
    return stale, sorted(set(found) - set(expected))


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
