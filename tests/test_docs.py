"""The README is a landing page, every relative link in the Markdown files resolves, and every lesson's header is
short."""

import ast
import re

import pytest

from support.scripts import ROOT

MARKDOWN_FILES = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md")]
)
LESSONS = sorted(ROOT.glob("[0-9][0-9]_*.py"))
# [text](target) and ![alt](target), but not the inside of a code span.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
# A figure of time in a header: "15 s", "2 minutes", "117 s an epoch".
TIMING = re.compile(r"\b\d+(\.\d+)?\s*(s|sec|seconds?|min|minutes?|hours?)\b")


def links(path):
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return LINK.findall(text)


def github_anchor(heading):
    """The id GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = CODE_SPAN.sub(lambda match: match.group(0).strip("`"), heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def test_the_markdown_files_are_there():
    names = {path.relative_to(ROOT).as_posix() for path in MARKDOWN_FILES}
    for page in ("terminal", "tabs", "keras-callback", "notebooks", "differences", "limitations"):
        assert f"docs/{page}.md" in names
    assert {"README.md", "CONTRIBUTING.md", "bench/README.md"} <= names


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path):
    checked = 0
    for target in links(path):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not this test's business
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        assert resolved.exists(), f"{path.name}: {target} does not exist"
        if anchor:
            assert resolved.suffix == ".md", f"{path.name}: {target} has an anchor into a non-Markdown file"
            assert anchor in anchors(resolved), f"{path.name}: {target}: no heading with that anchor"
        checked += 1
    if path == ROOT / "README.md":
        assert checked >= 10  # the README links to every docs page and the gallery


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[gone](missing.md) and [here](#title) and `[code](not-a-link.md)`\n")
    assert links(page) == ["missing.md", "#title"]
    assert "title" in anchors(page)
    assert github_anchor("If a tab looks empty") == "if-a-tab-looks-empty"
    assert github_anchor("Keras 3's `TensorBoard` callback") == "keras-3s-tensorboard-callback"


def test_the_readme_is_a_landing_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.split()) <= 2000
    for heading in ("## Quick start", "## Watching a run live", "## If a tab looks empty", "## The lessons"):
        assert heading in text
    # The tests' commands take the Quick start's steps: a venv first (Debian's own Python refuses pip outside one).
    activate = "source .venv/bin/activate    # on Windows: .venv\\Scripts\\activate\n"
    assert f"python3 -m venv .venv\n{activate}pip install -r requirements-dev.txt -c constraints.txt\npytest\n" in text
    assert "Reload data" in text
    # Every lesson has a row in the lessons table, with its two times.
    for lesson in ["starter.py", *(path.name for path in LESSONS)]:
        # The lessons table's rows have five cells; the "What is where" table names starter.py too.
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{lesson}` |") and line.count("|") == 6]
        assert len(re.findall(r"\|\s*\d+(\.\d+)? (s|min)( \d+ s)?\s*(?=\|)", row)) == 2, row


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_each_lesson_says_why_ctrl_c_comes_first_in_one_line_and_closes_on_run_the_lesson(lesson):
    lines = lesson.read_text(encoding="utf-8").splitlines()
    at = lines.index("import ctrl_c")
    assert lines[at - 1].startswith("# ctrl_c first, before TensorFlow:") and not lines[at - 2].startswith("#")
    sections = [line for line in lines if line.startswith("# ## ")]
    assert sections.count("# ## Run the lesson") == 1, sections
    # The closing section: `main` comes after it.
    assert lines.index("# ## Run the lesson") < lines.index("def main(argv=None):")
    assert sections[-1] == "# ## Run the lesson", sections


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_each_lesson_header_is_short_and_has_no_timings(lesson):
    docstring = ast.get_docstring(ast.parse(lesson.read_text(encoding="utf-8")), clean=False)
    lines = docstring.strip().splitlines()
    assert len(lines) <= 10, f"{lesson.name}: header of {len(lines)} lines"
    assert lines[0].startswith("Title: ")
    assert any(line.startswith("Run it:") for line in lines)
    assert not TIMING.search(docstring), f"{lesson.name}: a timing in the header: {TIMING.search(docstring)[0]}"


# A pointer from the code to a docs section: docs/limitations.md, "trace_export in TF 2.21".
POINTER = re.compile(r"((?:docs|bench)/[\w-]+\.md), \"([^\"]+)\"")


def test_every_pointer_from_the_code_names_a_heading_that_exists():
    sources = sorted([*ROOT.glob("*.py"), *(ROOT / "bench").glob("*.py")])
    pointers = [(path, *match) for path in sources for match in POINTER.findall(path.read_text(encoding="utf-8"))]
    assert pointers, "the lessons point to their docs sections"
    for path, page, heading in pointers:
        assert (ROOT / page).exists(), f"{path.name} points to {page}, which does not exist"
        assert github_anchor(heading) in anchors(ROOT / page), f"{path.name}: no heading {heading!r} in {page}"
