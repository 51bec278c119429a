"""
Title: The notebooks, generated from the scripts
Description: Writes notebooks/<script>.ipynb for starter.py and every numbered lesson (NN_*.py), one per script.

Run it:   python tools/make_notebooks.py      (after changing a script; a new NN_*.py gets its notebook too)
          python tools/make_notebooks.py --check    (exit 1 and name the notebooks that are out of date)
          python tools/make_notebooks.py --repository https://github.com/<account>/<name>   (Colab's address)
The notebooks are never edited by hand: the script is the source, and tests/test_notebooks_*.py fails when a
notebook differs from what this tool makes of its script. jupytext reads each script in its "light" format: a
top-level comment block followed by a blank line is a Markdown cell, each top-level statement group a code cell.
Each notebook holds, in reading order:
- the script's header docstring, as Markdown;
- the Colab cell: a form field `repository` (the address Colab clones the repository from), then, in Colab only,
  the clone and `pip install -r requirements.txt`;
- the setup cell: it moves to the repository's root (Jupyter and VS Code start a notebook in notebooks/) and lets
  `%tensorboard` find the `tensorboard` program;
- a flags cell, `FLAGS = ["--quick"]`;
- the script's cells, prose and code, in the script's order; its imports share one cell;
- `ctrl_c.run(main, FLAGS)`, in place of `if __name__ == "__main__": ctrl_c.run(main)`;
- `%tensorboard` on the newest run of the lesson, with the flags of the script's own "View it:" command (or on
  the directory that command names, when it is not the lesson's own: `--logdir logs`).

The repository's address in the Colab field is, in this order: --repository; the address of the clone's `origin`
remote, when it is a public one (https://host/path, git@host:path or ssh://, written as https://host/path without
credentials or `.git`); else the address the notebook already holds (a new notebook: what the others hold); else
empty (Colab then asks for it in one line). --check compares everything but that address, so it gives the same
answer in any clone: a CI clone whose origin is a local directory, this repository's own clone, or a fork on GitHub.
"""

import argparse
import ast
import json
import re
import shlex
import subprocess
import sys
import urllib.parse
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

# The command lines of a header docstring: `Run it:   python 01_callbacks.py   (or --quick ...)`.
COMMAND_LINE = re.compile(r"^(?P<label>Run it|View it):\s+(?P<rest>(?P<command>.+?)(\s{2,}.*)?)$")
# A line of a header docstring that starts a paragraph of its own (`TensorBoard tab: ...`).
LABEL_LINE = re.compile(r"^[A-Z][\w ,-]*:\s")
# A banner comment, `# 2. The input pipelines -----` or `# ----- Claiming a trial -----`: a heading.
BANNER = re.compile(r"^-*\s*(?P<title>[^-\s].*?)\s*-{3,}$")
# The Colab cell's form field, as written into the notebook.
REPOSITORY_FIELD = re.compile(r'^repository = (?P<address>".*?")  # @param \{type:"string"\}$', re.MULTILINE)

NOTEBOOK_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}

# Shown when the Colab cell runs with an empty field: what to type, and where.
EMPTY_REPOSITORY_LINE = (
    "Type the repository's address (https://github.com/<account>/<name>) into this cell's repository field."
)

COLAB_CELL = """\
# @title Colab: clone the repository and install its requirements
# Colab starts a notebook in an empty /content, without the lesson's files: in Colab this cell clones the
# repository from the address below and installs its requirements.txt. In Jupyter or VS Code it does nothing.
import os
import subprocess
import sys
from importlib.metadata import version

# The repository's address: edit it here, or in the form beside this cell.
repository = {address}  # @param {{type:"string"}}


class SetupError(Exception):
    \"\"\"Stops the notebook with one line: IPython shows what _render_traceback_ returns, not a traceback.\"\"\"

    def _render_traceback_(self):
        return [str(self)]


if "google.colab" in sys.modules:
    if not repository.strip():
        raise SetupError(
            {empty_line}
        )
    folder = "/content/" + repository.strip().rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]
    if not os.path.exists(folder):
        if subprocess.run(["git", "clone", "--depth=1", repository.strip(), folder]).returncode != 0:
            raise SetupError(f"Could not clone {{repository}}: correct the repository field, then run this again.")
    os.chdir(folder)
    colab_tensorflow = version("tensorflow")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"], check=True)
    if version("tensorflow") != colab_tensorflow:
        # The old TensorFlow may already be loaded in this process: only a new one imports the new TensorFlow.
        print(
            f"TensorFlow {{colab_tensorflow}} was upgraded to {{version('tensorflow')}}: restart the session "
            "(Runtime > Restart session), then run this notebook again from the top."
        )"""

SETUP_CELL = """\
# Setup. The lesson runs from the repository's root, as on a terminal: it imports starter.py from there and
# writes its logs to logs/. Jupyter and VS Code start a notebook in its own folder, notebooks/.
import os
import shutil
import sys

if not os.path.exists("starter.py") and os.path.exists("../starter.py"):
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

# 16_export.py trains nothing: its flags say what to read and how to draw it, and it takes none of the lessons' own.
EXPORT_FLAGS_CELL = """\
# The export's flags, as you would type them after `python 16_export.py`, for example "--logdir",
# "logs/02_scalars_custom_loop" (default: all of logs/), "--tag", "batch_loss" or "--smoothing", "0";
# make_parser().print_help(), once the cells below have run, lists them all.
FLAGS = []"""
FLAGS_CELLS = {"16_export": EXPORT_FLAGS_CELL}

RUN_CELL = """\
# Runs the lesson. The stop button (interrupt the kernel) stops it with one line and keeps what it has logged
# so far; the kernel, with everything defined above, stays.
ctrl_c.run(main, FLAGS)"""

# The newest run is the directory that changed last (a run's name is its start time, but --run-dir may name one).
TENSORBOARD_CELL = """\
# The lesson's tab, in the notebook, on the run that the cell above has just written (the newest in
# {lesson_dir}). In a terminal, where <run> is the directory the lesson printed, the same view is:
#   tensorboard --logdir {lesson_dir}/<run>{other_flags}
# To compare it with earlier runs: --logdir {lesson_dir} (above 40 runs, click "Toggle all runs").
from pathlib import Path

%load_ext tensorboard
runs = [run for run in Path("{lesson_dir}").iterdir() if run.is_dir()]
newest_run = max(runs, key=lambda run: run.stat().st_mtime)
%tensorboard --logdir "{{newest_run}}"{other_flags}"""

# For a script whose "View it:" line names another directory than its own runs' (all of logs/, say).
PLAIN_TENSORBOARD_CELL = """\
# The script's tab, in the notebook. In a terminal, the same view is:
#   {command}
%load_ext tensorboard
%tensorboard {arguments}"""

MAIN_GUARD_BODY = "ctrl_c.run(main)"


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(1)


def scripts(root=ROOT):
    """starter.py and every numbered lesson, in lesson order."""
    return [root / "starter.py", *sorted(root.glob("[0-9][0-9]_*.py"))]


# ---------------------------------------------------------------------------------------------------
# The repository's address, for Colab
# ---------------------------------------------------------------------------------------------------


def public_address(remote_url):
    """The https:// address of a git remote URL that is public (https://, http://, ssh://, git://, or scp-like
    git@host:path), without credentials or `.git`; None for a local path, a file:// URL or a local host."""
    remote_url = remote_url.strip()
    scp_like = re.match(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>(?!//)[^\\]+)$", remote_url)
    if scp_like and "." in scp_like["host"]:
        host, path = scp_like["host"], scp_like["path"]
    else:
        parts = urllib.parse.urlsplit(remote_url)
        if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
    path = path.strip("/").removesuffix(".git").strip("/")
    if "." not in host or host.startswith("localhost") or not path:
        return None
    return f"https://{host}/{path}"


def clone_address(root=ROOT):
    """The public address of the clone's `origin` remote, or None (no git, no origin, or a local one)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return public_address(result.stdout) if result.returncode == 0 else None


def held_address(notebook_path):
    """The address the Colab field of an existing notebook holds, or None."""
    try:
        cells = json.loads(notebook_path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for cell in cells:
        match = REPOSITORY_FIELD.search("".join(cell.get("source", "")))
        if match:
            return json.loads(match["address"])
    return None


# ---------------------------------------------------------------------------------------------------
# The header docstring, as Markdown, and the TensorBoard cell from its "View it:" line
# ---------------------------------------------------------------------------------------------------


def docstring_markdown(docstring, script_name):
    """The header docstring as Markdown: the Title as a heading, a paragraph per labelled line ("TensorBoard tab:"),
    and the "Run it:" and "View it:" commands, with their continuation lines, as code blocks."""
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


def tensorboard_cell(command, script_name):
    """The %tensorboard cell for a "View it:" command. For `tensorboard --logdir logs/<lesson>/<run> [flags]`, or
    the older `--logdir logs/<lesson> [flags]`, the cell shows the lesson's newest run, with the same flags; for
    any other directory without a placeholder (`--logdir logs`), that directory."""
    words = shlex.split(command)
    if words[:2] != ["tensorboard", "--logdir"] or len(words) < 3:
        fail(f'{script_name}: its "View it:" line must start with `tensorboard --logdir`')
    lesson_dir = f"logs/{Path(script_name).stem}"
    other_flags = "".join(f" {shlex.quote(word)}" for word in words[3:])
    if words[2].rstrip("/") in (lesson_dir, f"{lesson_dir}/<run>"):
        return TENSORBOARD_CELL.format(lesson_dir=lesson_dir, other_flags=other_flags)
    if "<" in words[2]:
        fail(f'{script_name}: the only placeholder its "View it:" line may hold is --logdir {lesson_dir}/<run>')
    return PLAIN_TENSORBOARD_CELL.format(command=shlex.join(words), arguments=shlex.join(words[1:]))


# ---------------------------------------------------------------------------------------------------
# The script's cells, as jupytext reads them
# ---------------------------------------------------------------------------------------------------


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

    jupytext's light format makes the cells; consecutive cells of imports only are joined into one, and a banner
    comment (`# 2. The input pipelines -----`) becomes a `##` heading.
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
        banner = BANNER.match(source) if kind == "markdown" and "\n" not in source else None
        if banner:
            result.append(("markdown", f"## {banner['title']}"))
        elif kind == "code" and result and result[-1][0] == "code" and is_imports(source) and is_imports(result[-1][1]):
            result[-1] = ("code", f"{result[-1][1]}\n\n{source}")
        else:
            result.append((kind, source))
    return [*result, ("code", RUN_CELL)]


# ---------------------------------------------------------------------------------------------------
# The notebook
# ---------------------------------------------------------------------------------------------------


def make_notebook(script, repository=""):
    """The notebook of one script, as an nbformat NotebookNode; `repository` fills the Colab cell's field."""
    docstring = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8")), clean=True)
    if docstring is None:
        fail(f"{script.name} has no header docstring")
    colab_cell = COLAB_CELL.format(address=json.dumps(repository), empty_line=json.dumps(EMPTY_REPOSITORY_LINE))
    cells = [
        nbformat.v4.new_markdown_cell(docstring_markdown(docstring, script.name)),
        nbformat.v4.new_code_cell(colab_cell),
        nbformat.v4.new_code_cell(SETUP_CELL),
        nbformat.v4.new_code_cell(FLAGS_CELLS.get(script.stem, FLAGS_CELL).format(script=script.name)),
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


def notebook_text(script, repository=""):
    """The exact file content of the script's notebook."""
    return nbformat.writes(make_notebook(script, repository)) + "\n"


def notebook_path(script, notebook_dir=NOTEBOOK_DIR):
    return notebook_dir / f"{script.stem}.ipynb"


def out_of_date(root=ROOT, notebook_dir=NOTEBOOK_DIR):
    """The notebooks that are missing or differ from what their script makes, and those of no script.

    Each notebook is compared with what its script makes with the repository address the notebook holds: that
    address depends on the clone the notebooks were made in, not on the script.
    """
    stale = []
    expected = [notebook_path(script, notebook_dir) for script in scripts(root)]
    for script, path in zip(scripts(root), expected, strict=True):
        text = notebook_text(script, held_address(path) or "") if path.exists() else None
        if text is None or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    orphans = sorted(set(notebook_dir.glob("*.ipynb")) - set(expected))
    return stale, orphans


def write_notebooks(repository=None, root=ROOT, notebook_dir=NOTEBOOK_DIR):
    """Writes every notebook that differs from what its script makes; returns the paths written.

    The Colab field holds `repository` if given, else the clone's public address, else what each notebook holds
    already (or, for a new notebook, what the others hold), else nothing.
    """
    existing = [address for address in map(held_address, sorted(notebook_dir.glob("*.ipynb"))) if address]
    repository = repository or clone_address(root)
    notebook_dir.mkdir(exist_ok=True)
    written = []
    for script in scripts(root):
        path = notebook_path(script, notebook_dir)
        address = repository or held_address(path) or (existing[0] if existing else "")
        text = notebook_text(script, address)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def public_address_argument(text):
    """argparse type: a public repository address, normalized as public_address does."""
    address = public_address(text)
    if address is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a public address such as https://github.com/<account>/<name>"
        )
    return address


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate notebooks/<script>.ipynb from the scripts.")
    parser.add_argument("--check", action="store_true", help="only say which notebooks are out of date")
    parser.add_argument(
        "--repository",
        type=public_address_argument,
        help="the address Colab clones the repository from (default: the clone's public origin, else the "
        "address the notebooks hold)",
    )
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
    for path in write_notebooks(args.repository):
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"{len(scripts())} notebooks in {NOTEBOOK_DIR.relative_to(ROOT)}/ are up to date.")


if __name__ == "__main__":
    main()
