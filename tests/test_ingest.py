"""Releases as they really come: HTML pages, PDFs, Markdown, wire copies; datelines, dedup, filters."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES

from qa import QA, build_index, load_index
from qa.corpus import read_release
from qa.metadata import parse_dateline

WEB = Path(__file__).resolve().parent / "fixtures" / "web"
WATER = (
    "The Minister of Environment today announced a 300 million euro fund to replace lead water pipes in 40 cities over the "
    "next six years.",
    "The fund will be administered by regional water boards, which must submit their replacement plans by the end of June 2024.",
    "“Every family deserves safe drinking water,” the Minister said at the launch of the fund in Lyon.",
)


def make_pdf(path: Path) -> None:
    """A two-page release with a running header, a footer and page numbers, as ministries publish them."""
    from fpdf import FPDF

    class Release(FPDF):
        def header(self):
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, "Ministry of Finance - Press Office", align="C")
            self.ln(12)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, f"Page {self.page_no()} of 2", align="C")

    pdf = Release()
    pdf.set_title("Budget Surplus Reported for 2023")
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "Budget Surplus Reported for 2023")
    pdf.ln(4)
    pdf.multi_cell(
        0,
        6,
        "ATHENS, January 30, 2024 -- The Ministry of Finance reported a primary budget surplus of 1.9 percent "
        "of output for 2023, above the target of 1.1 percent agreed with lenders.",
    )
    pdf.ln(4)
    pdf.multi_cell(0, 6, "Tax revenue rose by 8 percent, mainly because of stronger collection of value added tax.")
    pdf.add_page()
    pdf.multi_cell(0, 6, "The ministry expects the surplus to narrow to 1.5 percent in 2024 as defence spending grows.")
    pdf.output(str(path))


def test_ministry_html_main_text_and_metadata():
    r = read_release(WEB / "ministry_water.html", WEB)
    assert r.title == "Minister Announces Clean Water Fund"
    assert (r.date, r.organisation, r.language) == ("2024-03-12", "Ministry of Environment", "en")
    assert r.meta["url"] == "https://env.example.gov/news/clean-water-fund"
    assert r.paragraphs == WATER  # no menu, breadcrumb, cookie banner, share links, sidebar, footer or script


def test_second_ministry_html_page():
    r = read_release(WEB / "ministry_rail.html", WEB)
    assert (r.title, r.date, r.organisation) == (
        "Night Trains Return Between Vienna and Rome",
        "2023-11-02",
        "Ministry of Transport",
    )
    assert r.paragraphs[0].startswith("Night train services between Vienna and Rome will resume on 10 December 2023")
    assert len(r.paragraphs) == 3 and not any("cookies" in p.lower() or "More news" in p for p in r.paragraphs)


def test_wire_copy_dateline_header_and_footer():
    r = read_release(WEB / "wire_water.txt", WEB)
    assert r.paragraphs == WATER  # dateline parsed off, wire header and footer gone
    assert (r.date, r.organisation, r.meta["place"]) == ("2024-03-12", "EnviroWire", "LYON")


@pytest.mark.parametrize(
    "line,expected",
    [
        ("SEOUL, Sept. 10 (Yonhap) -- South Korea said", ("South Korea said", "SEOUL", None, "Yonhap")),
        ("WASHINGTON – The senator said", ("The senator said", "WASHINGTON", None, None)),
        ("January 14, 2021 — The ministry said", ("The ministry said", None, "2021-01-14", None)),
        ("NEW YORK, March 5, 2023 /PRNewswire/ -- Acme said", ("Acme said", "NEW YORK", "2023-03-05", "PRNewswire")),
        ("Kim - the minister said", None),
    ],
)
def test_datelines(line, expected):
    assert parse_dateline(line) == expected


def test_pdf_pages_headers_footers_and_numbers_dropped(tmp_path):
    make_pdf(tmp_path / "budget.pdf")
    r = read_release(tmp_path / "budget.pdf", tmp_path)
    assert r.title == "Budget Surplus Reported for 2023"
    assert r.date == "2024-01-30" and r.meta["place"] == "ATHENS"
    assert r.paragraphs == (
        "The Ministry of Finance reported a primary budget surplus of 1.9 percent of output for 2023, above the target of 1.1 "
        "percent agreed with lenders.",
        "Tax revenue rose by 8 percent, mainly because of stronger collection of value added tax.",
        "The ministry expects the surplus to narrow to 1.5 percent in 2024 as defence spending grows.",
    )


def test_broken_pdf_and_html_are_clear_errors(tmp_path):
    from qa.errors import CorpusError

    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(CorpusError, match=r"broken.pdf is not a readable PDF"):
        read_release(tmp_path / "broken.pdf", tmp_path)
    (tmp_path / "empty.html").write_text("<html><body><nav>Home</nav></body></html>")
    with pytest.raises(CorpusError, match=r"empty.html has no (main|release) text"):
        read_release(tmp_path / "empty.html", tmp_path)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, encoder):
    corpus = tmp_path_factory.mktemp("mixed")
    for f in WEB.iterdir():
        shutil.copy(f, corpus / f.name)
    shutil.copy(FIXTURES / "release.md", corpus / "harbour.md")
    make_pdf(corpus / "budget.pdf")
    shutil.copy(WEB / "ministry_water.html", corpus / "water-copy.htm")  # an exact copy under another name
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04 not a release")
    (corpus / "table.xlsx").write_bytes(b"PK\x03\x04")
    session = QA(corpus, tmp_path_factory.mktemp("mixed-index"))
    session.encoder = encoder
    return session


def test_mixed_folder_indexes_each_release_once_and_warns_about_unknown_files(mixed, capsys):
    report = build_index(mixed.corpus, mixed.folder, mixed.encoder)
    err = capsys.readouterr().err
    assert "skipping 2 file(s) of unsupported type: notes.docx, table.xlsx" in err
    assert report.duplicates == {"water-copy.htm": "ministry_water.html", "wire_water.txt": "ministry_water.html"}
    index = load_index(mixed.folder)
    water = [c for c in index.chunks if "lead water pipes" in c.text]
    assert len(water) == 1 and water[0].source == "ministry_water.html"
    assert water[0].also_in == ("water-copy.htm", "wire_water.txt")
    again = build_index(mixed.corpus, mixed.folder, mixed.encoder)
    assert again.embedded == 0 and not again.written  # re-ingesting the same folder is a no-op


def test_answers_list_every_copy(mixed):
    answer = mixed.ask("In how many cities will lead water pipes be replaced?")
    top = answer.passages[0]
    assert "300 million euro fund" in top.text and top.source == "ministry_water.html"
    assert top.also_in == ["water-copy.htm", "wire_water.txt"] and top.organisation == "Ministry of Environment"


def test_filters_apply_before_ranking(mixed):
    both = mixed.ask("When do the trains run and what about the budget?", k=10)
    assert {p.source for p in both.passages} >= {"ministry_rail.html", "budget.pdf"}
    only_2024 = mixed.ask("What was announced?", k=10, since="2024-01-01")
    assert only_2024.passages and all(p.date >= "2024-01-01" for p in only_2024.passages)
    rail = mixed.ask("What was announced?", k=3, source="transport")
    assert len(rail.passages) == 3 and {p.source for p in rail.passages} == {"ministry_rail.html"}
    window = mixed.ask("What was announced?", k=10, since="2023-11", until="2023-11")
    assert {p.date for p in window.passages} == {"2023-11-02"}
    empty = mixed.ask("What was announced?", since="2030-01-01")
    assert empty.no_answer and empty.passages == [] and "No releases match the filter (since 2030-01-01)" in empty.message
