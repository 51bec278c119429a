"""
Title: The notebooks, generated from the scripts
Description: Writes notebooks/<script>.ipynb for starter.py and every numbered lesson (NN_*.py), one per script.

Run it:   python tools/make_notebooks.py      (after changing a script; a new NN_*.py gets its notebook too)
          python tools/make_notebooks.py --check    (exit 1 and name the notebooks that are out of date)
The notebooks are never edited by hand: the script is the source, and tests/test_notebooks_*.py fails when a
notebook differs from what this tool makes of its script. Each notebook holds, in reading order:
- the script's header docstring, as Markdown;
- a setup cell: it moves to the repository's root (Jupyter and VS Code start a notebook in notebooks/), and in
  Colab first clones the repository and installs requirements.txt;
- a flags cell, `FLAGS = ["--quick"]`;
- the script's own code, cells a learner can edit and rerun: the imports, the constants, and each top-level
  function in a cell of its own, in the script's order (a section comment such as `# 2. The input pipelines ---`
  becomes a heading);
- `ctrl_c.run(main, FLAGS)`, in place of `if __name__ == "__main__": ctrl_c.run(main)`;
- `%tensorboard` with the script's own "View it:" command, which shows the lesson's tab in the notebook.
"""

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

# Where Colab clones the repository from, and the folder it clones into.
REPOSITORY_URL = "https://github.com/OWNER/tensorboard-every-tab"
COLAB_FOLDER = REPOSITORY_URL.rsplit("/", 1)[-1]

# A section comment in a script: `# 2. The input pipelines -----...`.
SECTION_COMMENT = re.compile(r"^# (?P<title>.+?) -{3,}$")
# The command lines of a header docstring: `Run it:   python 01_callbacks.py   (or --quick ...)`.
COMMAND_LINE = re.compile(r"^(?P<label>Run it|View it):\s+(?P<rest>(?P<command>.+?)(\s{2,}.*)?)$")
# A line of a header docstring that starts a paragraph of its own (`TensorBoard tab: ...`, `Time on ...: ...`).
LABEL_LINE = re.compile(r"^[A-Z][\w ,-]*:\s")

NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}

SETUP_CELL = f"""\
# Setup. The lesson runs from the repository's root, as on a terminal: it imports starter.py from there and
# writes its logs to logs/. Jupyter and VS Code start a notebook in its own folder, notebooks/. Colab starts it
# in an empty /content: there the repository is cloned and its requirements.txt installed first.
import os
import shutil
import subprocess
import sys
from importlib.metadata import version

if "google.colab" in sys.modules:
    os.chdir("/content")
    repository = "{REPOSITORY_URL}"
    if not os.path.exists("{COLAB_FOLDER}"):
        if subprocess.run(["git", "clone", "--depth=1", repository]).returncode != 0:
            raise SystemExit(f"Could not clone {{repository}}: clone it into /content, then run this cell again.")
    os.chdir("{COLAB_FOLDER}")
    colab_tensorflow = version("tensorflow")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"], check=True)
    if version("tensorflow") != colab_tensorflow:
        # The old TensorFlow may already be loaded in this process: only a new one imports the new TensorFlow.
        print(
            f"TensorFlow {{colab_tensorflow}} was upgraded to {{version('tensorflow')}}: restart the session "
            "(Runtime > Restart session), then run this notebook again from the top."
        )
elif not os.path.exists("starter.py") and os.path.exists("../starter.py"):
    os.chdir("..")
sys.path.insert(0, os.getcwd())

# %tensorboard starts the `tensorboard` program on PATH. A kernel from a virtual environment that was never
# activated (VS Code starts one) has no such program on PATH: TENSORBOARD_BINARY points it at this Python's own.
tensorboard_next_to_python = shutil.which("tensorboard", path=os.path.dirname(sys.executable))
if shutil.which("tensorboard") is None and tensorboard_next_to_python:
    os.environ["TENSORBOARD_BINARY"] = tensorboard_next_to_python"""

FLAGS_CELL = """\
# The lesson's flags, as you would type them after `python {script}`.
# "--quick" trains on a small subset for one epoch, in seconds: remove it for the full run. Add others as
# strings, for example "--epochs", "10" or "--dataset", "digits" (offline); make_parser().print_help(), once
# the cells below have run, lists them all. Keep the default --logdir: the TensorBoard cell at the end reads logs/.
FLAGS = ["--quick"]"""

RUN_CELL = """\
# Runs the lesson. The stop button (interrupt the kernel) stops it with one line and keeps what it has logged
# so far; the kernel, with everything defined above, stays.
ctrl_c.run(main, FLAGS)"""

TENSORBOARD_CELL = """\
# The lesson's tab, in the notebook. In a terminal, the same TensorBoard starts with:
#   {command}
%load_ext tensorboard
%tensorboard {arguments}"""

# Debugger V2 reads only the root of --logdir: the "View it:" command of 12_debugger.py names
# `logs/12_debugger/<run>`, and the notebook takes the newest run as <run>.
NEWEST_RUN_TENSORBOARD_CELL = """\
# The lesson's tab, in the notebook. In a terminal, the same TensorBoard starts with:
#   {command}
# where <run> is one run's own directory: here, the newest.
from pathlib import Path

%load_ext tensorboard
newest_run = max(Path("{experiment_dir}").iterdir())
%tensorboard {arguments_before} "{{newest_run}}"{arguments_after}"""

MAIN_GUARD_BODY = "ctrl_c.run(main)"


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def scripts(root=ROOT):
    """starter.py and every numbered lesson, in lesson order."""
    return [root / "starter.py", *sorted(root.glob("[0-9][0-9]_*.py"))]


# ---------------------------------------------------------------------------------------------------
# The header docstring, as Markdown
# ---------------------------------------------------------------------------------------------------


def docstring_markdown(docstring, script_name):
    """The header docstring as Markdown: the Title as a heading, a paragraph per labelled line ("TensorBoard tab:",
    "Time on ...:"), and the "Run it:" and "View it:" commands, with their continuation lines, as code blocks."""
    lines = docstring.strip().splitlines()
    title = lines.pop(0).removeprefix("Title:").strip()
    blocks, paragraph, commands = [f"# {title}"], [], None

    def close_paragraph():
        if paragraph:
            blocks.append("\n".join(paragraph))
            paragraph.clear()

    for line in lines:
        command = COMMAND_LINE.match(line)
        if command:
            close_paragraph()
            # The command block's lines keep their alignment below the first command.
            commands = {"label": command["label"], "indent": command.start("rest"), "lines": [command["rest"]]}
            blocks.append(commands)
            continue
        if commands is not None and line.startswith(" ") and line.strip():
            indent = commands["indent"] if not line[: commands["indent"]].strip() else len(line) - len(line.lstrip())
            commands["lines"].append(line[indent:])
            continue
        commands = None
        if not line.strip():
            close_paragraph()
        elif LABEL_LINE.match(line) or re.match(r"^(\d+\.|-) ", line):
            # A labelled line starts a paragraph; a numbered list's items stay together.
            if not (paragraph and re.match(r"^\d+\. ", line) and re.match(r"^\d+\. ", paragraph[0])):
                close_paragraph()
            paragraph.append(line.removeprefix("Description: "))
        else:
            paragraph.append(line.strip())
    close_paragraph()
    texts = [
        block if isinstance(block, str) else f"**{block['label']}:**\n```\n" + "\n".join(block["lines"]) + "\n```"
        for block in blocks
    ]
    texts.append(f"*This notebook is generated from `{script_name}` by `python tools/make_notebooks.py`.*")
    return "\n\n".join(texts)


def view_command(docstring):
    """The `tensorboard --logdir ...` command of the docstring's "View it:" line, or None."""
    for line in docstring.splitlines():
        match = COMMAND_LINE.match(line)
        if match and match["label"] == "View it":
            return match["command"].strip()
    return None


def tensorboard_cell(command):
    arguments = command.removeprefix("tensorboard ").strip()
    if "<run>" not in arguments:
        return TENSORBOARD_CELL.format(command=command, arguments=arguments)
    before, after = arguments.split("<run>", 1)
    logdir_flag, experiment_dir = before.rsplit(" ", 1)
    return NEWEST_RUN_TENSORBOARD_CELL.format(
        command=command,
        experiment_dir=experiment_dir.rstrip("/"),
        arguments_before=logdir_flag,
        arguments_after=after,
    )


# ---------------------------------------------------------------------------------------------------
# The script's code, as cells
# ---------------------------------------------------------------------------------------------------


def is_main_guard(node):
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def kind_of(node):
    if isinstance(node, ast.Import | ast.ImportFrom):
        return "imports"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return "definition"
    if is_main_guard(node):
        return "main guard"
    return "constants"


def code_blocks(source, script_name):
    """The script after its docstring, as [(kind, text)]: kind is "section" (a section comment's title),
    "imports", "constants", "definition" (one function or class) or "run" (the main guard, replaced)."""
    lines = source.splitlines()
    body = ast.parse(source).body
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
        fail(f"{script_name} has no header docstring")
    blocks = []
    previous_end = body[0].end_lineno
    for node in body[1:]:
        start = min([node.lineno, *(decorator.lineno for decorator in getattr(node, "decorator_list", []))])
        # The comment lines between two statements: a section comment is a heading; the others belong to the
        # statement below them.
        gap = lines[previous_end : start - 1]
        sections = [match["title"] for match in map(SECTION_COMMENT.match, gap) if match]
        blocks += [("section", title) for title in sections]
        leading = [line for line in gap if not SECTION_COMMENT.match(line)]
        kind = kind_of(node)
        if kind == "main guard":
            guarded = "\n".join(lines[node.body[0].lineno - 1 : node.end_lineno]).strip()
            if guarded != MAIN_GUARD_BODY or node.orelse:
                fail(f'{script_name} must end with `if __name__ == "__main__":` and `{MAIN_GUARD_BODY}` alone')
            blocks.append(("run", RUN_CELL))
        elif blocks and not sections and kind in ("imports", "constants") and blocks[-1][0] == kind:
            # Consecutive imports, or constants, share a cell, with the script's blank lines and comments.
            blocks[-1] = (kind, "\n".join([blocks[-1][1], *leading, *lines[start - 1 : node.end_lineno]]))
        else:
            text = "\n".join([*leading, *lines[start - 1 : node.end_lineno]]).strip("\n")
            blocks.append((kind, text))
        previous_end = node.end_lineno
    if not blocks or blocks[-1][0] != "run":
        fail(f'{script_name} must end with `if __name__ == "__main__": {MAIN_GUARD_BODY}`')
    return blocks


# ---------------------------------------------------------------------------------------------------
# The notebook
# ---------------------------------------------------------------------------------------------------


def make_notebook(script):
    """The notebook of one script, as an nbformat NotebookNode."""
    source = script.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source), clean=True)
    cells = [
        nbformat.v4.new_markdown_cell(docstring_markdown(docstring, script.name)),
        nbformat.v4.new_code_cell(SETUP_CELL),
        nbformat.v4.new_code_cell(FLAGS_CELL.format(script=script.name)),
    ]
    for kind, text in code_blocks(source, script.name):
        if kind == "section":
            cells.append(nbformat.v4.new_markdown_cell(f"## {text}"))
        else:
            cells.append(nbformat.v4.new_code_cell(text))
    command = view_command(docstring)
    if command is not None:
        cells.append(nbformat.v4.new_code_cell(tensorboard_cell(command)))
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
    """The notebooks that are missing or differ from what their script makes, and those of no script."""
    expected = {notebook_path(script, notebook_dir): notebook_text(script) for script in scripts(root)}
    stale = [path for path, text in expected.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    orphans = sorted(set(notebook_dir.glob("*.ipynb")) - set(expected))
    return stale, orphans


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate notebooks/<script>.ipynb from the scripts.")
    parser.add_argument("--check", action="store_true", help="only say which notebooks are out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale, orphans = out_of_date()
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)} (run: python tools/make_notebooks.py)")
        for path in orphans:
            print(f"no script makes {path.relative_to(ROOT)}: delete it")
        if not stale and not orphans:
            print(f"The {len(scripts())} notebooks in notebooks/ are up to date.")
        raise SystemExit(1 if stale or orphans else 0)
    NOTEBOOK_DIR.mkdir(exist_ok=True)
    for script in scripts():
        path = notebook_path(script)
        text = notebook_text(script)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    print(f"{len(scripts())} notebooks in {NOTEBOOK_DIR.relative_to(ROOT)}/ are up to date.")


if __name__ == "__main__":
    main()
