"""What a release is called: `qa parse --json` on releases shaped like a newcomer's uploads."""

from __future__ import annotations

import json

from conftest import run_cli

SHORT_TEXT = """School Meals Programme Expanded

Department of Education

12 May 2025

The Department of Education will expand free school meals to 40,000 more pupils from September.
"""
MARKDOWN = """---
title: Harbour Wind Farm Reaches Full Power
organization: Coastal Energy Agency
date: 2025-03-02
---

The Harbour Wind Farm reached its full output of 640 megawatts on Friday, enough for 500,000 homes.

Contact: press@coastal-energy.example
"""
HTML = """<!doctype html><html><head><title>City Libraries Extend Opening Hours | Riverton City Council</title>
<meta property="og:site_name" content="Riverton City Council"></head><body><nav>Home · News</nav><main>
<h1>City Libraries Extend Opening Hours</h1><p>4 June 2025</p>
<p>From 1 July, all six city libraries will stay open until 9 pm on weekdays.</p></main></body></html>"""
GLUED_DATELINE = """Valley Bridge Reopens After Repairs

Department of Transport, 3 April 2025 The Valley Bridge reopened to traffic on Thursday after eight months of repairs.
"""
LABELLED = """Press Releases

Ferry Fares Frozen For Another Year

Harbour Authority

The Harbour Authority will keep ferry fares at their current level until the end of next year.
"""


def _parse(tmp_path, name: str, text: str) -> dict:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = run_cli("parse", "--json", str(path))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_short_text_release_headline_is_the_title_and_the_next_line_the_source(tmp_path):
    r = _parse(tmp_path, "school_meals.txt", SHORT_TEXT)
    assert (r["title"], r["organisation"], r["date"]) == (
        "School Meals Programme Expanded",
        "Department of Education",
        "2025-05-12",
    )
    assert r["title_from"] != "file name" and r["section"] is None
    assert r["paragraphs"] == ["The Department of Education will expand free school meals to 40,000 more pupils from September."]


def test_markdown_organization_front_matter_is_the_source(tmp_path):
    r = _parse(tmp_path, "harbour.md", MARKDOWN)
    assert (r["title"], r["organisation"]) == ("Harbour Wind Farm Reaches Full Power", "Coastal Energy Agency")
    assert not any("@" in p for p in r["paragraphs"])  # the contact line at the end is not release text


def test_html_site_name_is_the_source(tmp_path):
    r = _parse(tmp_path, "libraries.html", HTML)
    assert (r["title"], r["organisation"], r["date"]) == (
        "City Libraries Extend Opening Hours",
        "Riverton City Council",
        "2025-06-04",
    )


def test_organisation_and_date_run_into_the_first_paragraph_are_split_off(tmp_path):
    r = _parse(tmp_path, "bridge.txt", GLUED_DATELINE)
    assert r["organisation"] == "Department of Transport" and r["date"] == "2025-04-03"
    assert r["paragraphs"][0].startswith("The Valley Bridge reopened")


def test_a_page_type_label_is_neither_title_nor_source(tmp_path):
    r = _parse(tmp_path, "fares.txt", LABELLED)
    assert r["title"] == "Ferry Fares Frozen For Another Year"
    assert r["organisation"] == "Harbour Authority" or r["section"] == "Harbour Authority"
    assert "Press Releases" not in (r["organisation"], r["section"])
