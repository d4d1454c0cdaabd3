"""The version is said once: ``sb3_maxent/version.txt``; CHANGELOG.md's newest release, CITATION.cff and the BibTeX
block of docs/index.md agree with it, and CHANGELOG.md keeps Keep a Changelog's form."""

import re
from pathlib import Path

import yaml

import sb3_maxent

ROOT = Path(__file__).resolve().parents[2]
VERSION = (ROOT / "sb3_maxent" / "version.txt").read_text().strip()
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
HEADINGS = ("Breaking changes", "Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")


def _sections() -> list[tuple[str, str]]:
    """(title, body) of each ``## `` section of CHANGELOG.md."""
    parts = re.split(r"^## (.*)$", CHANGELOG, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_the_newest_release_in_the_changelog_is_version_txt():
    titles = [title for title, _ in _sections()]
    assert titles[0] == "[Unreleased]"
    assert re.fullmatch(rf"\[{re.escape(VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}", titles[1]), (titles[1], VERSION)
    assert sb3_maxent.__version__ == VERSION


def test_each_changelog_section_has_each_heading_once():
    for title, body in _sections():
        headings = re.findall(r"^### (.*)$", body, flags=re.MULTILINE)
        assert len(headings) == len(set(headings)), f"{title}: duplicate headings {headings}"
        assert set(headings) <= set(HEADINGS), f"{title}: {headings}"


def test_citation_cff_and_the_docs_bibtex_name_version_txt():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert citation["version"] == VERSION
    released = re.search(rf"^## \[{re.escape(VERSION)}\] - (\S+)$", CHANGELOG, flags=re.MULTILINE)
    assert released is not None and str(citation["date-released"]) == released.group(1)
    assert {"1702.08165", "1801.01290", "1910.07207", "2007.14430"} <= {
        reference["url"].rsplit("/", 1)[-1] for reference in citation["references"]
    }
    index = (ROOT / "docs" / "index.md").read_text()
    assert f"version = {{{VERSION}}}" in index
