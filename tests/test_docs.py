"""The README and the docs stay true: links resolve, included results files exist, the README's test
command is CI's, and the site builds with ``mkdocs build --strict``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
SNIPPET = re.compile(r"""^\s*--8<--\s+["']([^"']+)["']""", re.M)
HOOK_FILE = re.compile(r"<!--\s*miu2net:json\s+(\S+)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code (links there are examples, not links)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown toc) gives a heading."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def _links(path: Path) -> list[str]:
    return LINK.findall(_prose(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link of the README and the docs names a file in the repository (and, for a
    Markdown file, an anchor that is one of its headings)."""
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
            continue
        if not str(resolved).startswith(str(ROOT)):
            broken.append(f"{target}: outside the repository")
            continue
        if resolved.is_dir():
            broken.append(f"{target}: a folder, link a file")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_included_results_files_exist() -> None:
    """Every snippet include (``--8<-- "PATH[:start:end]"``, paths from the repository root) and every
    results file the hook renders (``miu2net:json PATH``) exists."""
    missing = []
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        for include in SNIPPET.findall(text):
            path = re.sub(r"(:\d*)+$", "", include)
            if not (ROOT / path).is_file():
                missing.append(f"{page.name}: {include}")
        for path in HOOK_FILE.findall(text):
            if not (ROOT / path).is_file():
                missing.append(f"{page.name}: {path}")
    assert not missing, "missing results files: " + ", ".join(missing)


def _readme_command(heading: str) -> str:
    """The first fenced bash command under the README's heading ``heading``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```bash\n(.+?)\n```", section, re.S)
    assert match, f"README: no bash block under '## {heading}'"
    return match.group(1).strip()


def _ci_command() -> str:
    """The first command line of ``.ci/run`` (after the shebang, comments and shell options)."""
    for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith(("set ", "cd ")):
            return line
    raise AssertionError(".ci/run holds no command")


def test_readme_test_command_is_ci_command() -> None:
    """The README's test command is exactly what CI runs."""
    assert _readme_command("Test") == _ci_command(), (
        "README's test command and .ci/run's differ: change both together")


def test_readme_set_up_command_runs_the_example() -> None:
    """The set-up command installs the same torch as the test command and runs the bundled example."""
    setup, test = _readme_command("Set up and run the example"), _readme_command("Test")
    assert setup.split(" && pip install -e")[0] == test.split(" && pip install -e")[0]
    assert "miu2net reconstruct examples/merging_pair_catalogue.fits" in setup
    assert (ROOT / "examples" / "merging_pair_catalogue.fits").is_file()


def test_api_pages_name_existing_modules() -> None:
    """Every ``::: miu2net.x.y`` block of the API pages names a module in src/."""
    missing = []
    for page in (DOCS / "api").glob("*.md"):
        for name in re.findall(r"^:::\s+(\S+)", page.read_text(encoding="utf-8"), re.M):
            parts = name.split(".")
            base = ROOT / "src" / Path(*parts)
            if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
                missing.append(f"{page.name}: {name}")
    assert not missing, ", ".join(missing)


def test_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict``: no broken link, anchor or snippet, every marker rendered."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    if shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists():
        pytest.skip("no mkdocs executable")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert time.monotonic() - start < 120
