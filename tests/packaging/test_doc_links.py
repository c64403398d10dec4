"""The README and the pages in docs/: short enough to read, and every relative link resolves.

A relative link must name a file or folder that exists in the repository; a ``#anchor`` must name a
heading of the Markdown file it points into, as GitHub turns headings into anchors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield line


def links(text: str) -> list[str]:
    """The targets of the Markdown links in ``text``, outside code blocks and code spans."""
    return [target for line in _prose_lines(text) for target in _LINK.findall(_CODE_SPAN.sub("", line))]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of ``text``: lower case, punctuation dropped, spaces
    turned into hyphens, ``-1``, ``-2`` … added to repeats."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(text):
        match = _HEADING.match(line)
        if not match:
            continue
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
        slug = re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")
        repeat = seen.get(slug, 0)
        seen[slug] = repeat + 1
        found.add(slug if repeat == 0 else f"{slug}-{repeat}")
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` that name no file, or no heading of the file they name."""
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors_of(destination):
            broken.append(f"{target}: no heading with that anchor in {destination.name}")
    return broken


def _anchors_of(page: Path) -> set[str]:
    return anchors(page.read_text(encoding="utf-8"))


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_readme_is_read_in_five_minutes() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text) <= 12_000
    assert "bash scripts/demo.sh" in text[:3_000]
    assert "bash scripts/test.sh" in text[:3_000]


def test_the_readme_links_every_docs_page() -> None:
    """Each page in docs/ is reachable from the README (scratch pages, named ``_…``, excepted)."""
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in links(README.read_text(encoding="utf-8"))
        if not _EXTERNAL.match(target)
    }
    expected = {"resuming.md", "sandbox.md", "development.md", "performance.md", "rate-limits.md"}
    published = {page for page in DOCS.glob("*.md") if not page.name.startswith("_")}
    assert expected <= {page.name for page in published}
    assert published <= linked


def test_the_checker_finds_broken_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text(
        "# The 2027 API sunset\n\n## Limits (HubSpot's)\n\n## Limits (HubSpot's)\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-2027-api-sunset) [ok](other.md#limits-hubspots-1) [ok](#here)\n"
        "[missing file](gone.md) [missing anchor](other.md#nowhere) [web](https://example.com/x)\n"
        "`[in code](gone-too.md)`\n"
        "```\n[in a block](gone-too.md)\n```\n"
        "## Here\n"
    )
    assert broken_links(page) == [
        "gone.md: no such file",
        "other.md#nowhere: no heading with that anchor in other.md",
    ]
