"""Ingestion of real releases: each format's loader, boilerplate by pattern, titles and dates by evidence.

Real files (tests/fixtures/real, sources in SOURCES.tsv) check the result on what people really have;
small fixtures written here check each pattern on its own.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from qa.chunking import chunk_release
from qa.cli import main
from qa.corpus import parse_release, read_release
from qa.errors import CorpusError
from qa.loaders.html import strip_site_suffix
from qa.loaders.text import repair, split_runs

REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def _text(release) -> str:
    return "\n".join(release.paragraphs)


def _ends_mid_sentence(paragraphs) -> list[str]:
    import re

    return [
        a
        for a, b in itertools.pairwise(paragraphs)
        if not re.search(r"[.!?:;\"”’)\]]$", a) and re.match(r"[a-z]{2,}\b(?![.)])", b)
    ]


# ------------------------------------------------------------------ real files


def test_real_wire_markdown_loses_pickups_syndication_lines_and_contacts():
    r = read_release(REAL / "wire_prism_vayk.md")
    assert r.title == "VAYK Reported $2.0 Million Revenue for 2025 and Issued BOD Statement"
    assert r.date == "2026-04-01"
    text = _text(r)
    for gone in (
        "Pickup",
        "first appeared on",
        "Original/Source Press Release",
        "Reddit Post",
        "Newsramp.com TLDR",
        "as your preferred news source",
        "Contact@GreatEstateBlockchain.com",
    ):
        assert gone not in text, gone
    assert r.paragraphs[0].startswith("PRISM MediaWire")
    assert any(p.startswith("“The Company remains committed to long-term growth") for p in r.paragraphs)


def test_real_wire_markdown_media_inquiry_block_goes_but_about_section_stays():
    r = read_release(REAL / "wire_newmediawire_high_blood_pressure.md")
    assert (r.title, r.date) == ("High blood pressure a concern for adolescents and young adults in U.S.", "2024-09-05")
    text = _text(r)
    for gone in ("For Media Inquiries", "ahacommunications@heart.org", "For Public Inquiries", "Pickup", "Reddit Post"):
        assert gone not in text, gone
    assert r.paragraphs[-2] == "About the American Heart Association"
    assert "- In the first study, nearly 23% of young adults" in text  # list items are kept as written


def test_real_jekyll_post_raw_html_becomes_text_and_escaped_numbers_decode():
    r = read_release(REAL / "cpib_2024-01-18-iswaran-charged.md")
    assert (r.title, r.date) == ("S Iswaran Charged for Corruption and Other Offences", "2024-01-18")
    assert "<p>" not in _text(r) and "</p>" not in _text(r)
    assert len(r.paragraphs) > 3  # each <p> is a paragraph, not one run of markup
    old = read_release(REAL / "cpib_2012-06-06-former-scdf-chief-charged.md")
    assert old.paragraphs[1].startswith("2. It is alleged")  # "2\." is CommonMark for "2.", the number stays with its text
    assert "\\" not in _text(old)


def test_real_body_event_date_never_outranks_the_file_name():
    r = read_release(REAL / "cpib_2013-09-18-14-arrested.md")  # the text reports an operation on 17 September 2013
    assert r.date == "2013-09-18"


def test_real_one_line_markdown_splits_at_flattened_paragraph_breaks():
    r = read_release(REAL / "wire_247_green_economy.md")
    assert r.date == "2024-10-05"
    assert len(r.paragraphs) >= 4
    assert r.paragraphs[1].startswith("In his opening speech")


def test_real_pdf_headline_by_type_size_paragraphs_rebuilt_and_margin_text_dropped():
    r = read_release(REAL / "sentosa_20100204_record_visitor_arrivals.pdf")
    assert r.title == "Record Number of Guest Arrivals for Sentosa in 2009"  # not "Microsoft Word - 04_Media release…"
    assert r.date == "2010-02-04"
    assert not _ends_mid_sentence(r.paragraphs)
    assert all(p not in ("MEDIA", "RELEASE", "FOR IMMEDIATE RELEASE") for p in r.paragraphs)
    assert r.paragraphs[2].startswith("Singapore, 4 February 2010: Sentosa ended the decade on a high")
    assert r.paragraphs[2].endswith("amid the recovery of the global economy.")  # five printed lines, one paragraph
    assert len(r.paragraphs) <= 20


def test_real_html_title_loses_site_suffix():
    r = read_release(REAL / "europarl_20201217IPR94207.html")
    assert r.title == "EU-UK relations: parliament adopts temporary contingency measures"
    assert r.date == "2020-12-18"


@pytest.mark.parametrize(
    "name, title",
    [
        (
            "senate_Webb_01Nov2007Webb26.txt",
            "30 Senators Say White House Must Seek Congressional Approval for Offensive Military Action against Iran",
        ),
        ("senate_Bennett_09Nov2007Bennett1109.txt", "Bennett Announces Over $235,000 on its Way to Three Utah Fire Departments"),
        ("senate_Vitter_28Jul2006Vitter244.txt", "PROTECTING HUMAN LIFE"),
    ],
)
def test_real_senate_scrape_headline_found_where_the_text_opens_with_one(name, title):
    r = read_release(REAL / name)
    assert r.title == title
    assert all(p not in ("Press Releases", "Senator Jim Webb", "Virginia") for p in r.paragraphs)
    assert "# # #" not in _text(r) and "http://bennett.senate.gov" not in _text(r)


def test_real_senate_scrape_headline_said_once_and_issue_lines_dropped():
    kohl = read_release(REAL / "senate_Kohl_23Sep2005Kohl7.txt")
    assert kohl.title.endswith(
        "ON FEMA s DECISION TO DENY DISASTER AID FOR WISCONSIN COMMUNITIES HIT BY TORNADOES"
    )  # capitals with a stray "s": one headline
    assert kohl.section is None and kohl.date == "2005-09-23"  # "Press Release" is the kind of page
    assert kohl.paragraphs == (kohl.paragraphs[0],) and kohl.paragraphs[0].startswith(
        "I am disappointed by FEMA"
    )  # repeat, issue line gone
    inouye = read_release(REAL / "senate_Inouye_22Jun2006Inouye36.txt")
    assert inouye.paragraphs[0].startswith(
        "Washington D C U S Senator Daniel K Inouye voted"
    )  # "HEADLINE Thursday June 22 2006" dropped
    assert inouye.date == "2006-06-22"
    corker = read_release(REAL / "senate_Corker_16May2007Corker134.txt")
    assert corker.paragraphs[0] == "Is Disappointed the Bill Doesn t Include Reforms to Set Project Priorities"  # the deck stays
    assert corker.paragraphs[1].startswith("WASHINGTON D C U S Senator Bob Corker")  # office line and date line under it go
    assert not any("from the Office of" in p for p in corker.paragraphs)


def test_a_page_date_stamp_under_the_deck_is_not_a_section():
    text = (
        "Senator Blasts Agency Over Storm Expenses\n\nMedia Release: residents denied help\n\nToday: July 24, 2008\n\n"
        "WASHINGTON - Residents wrongly are being denied federal disaster assistance, the senator charged today in a letter."
    )
    release = parse_release(text, "stamp.txt")
    assert release.section is None and release.title == "Senator Blasts Agency Over Storm Expenses"


def test_a_sentence_that_starts_like_the_headline_is_kept():
    text = "Smith Votes for the Water Bill\n\nSmith votes for the water bill because it funds levees. It passed today, 91 to 4."
    release = parse_release(text, "smith.txt")
    assert release.paragraphs[0].startswith("Smith votes for the water bill because")
    text = "# Intergovernmental Panel on Climate Change\n\nIntergovernmental Panel on Climate Change (IPCC) is a scientific body."
    assert parse_release(text, "ipcc.md").paragraphs[0].startswith("Intergovernmental Panel on Climate Change (IPCC) is")


# ------------------------------------------------------------- pattern fixtures

WIRE_TAIL = """

The company will report again in May.

The post Acme Opens Plant appeared first on Example Wire.

View the original release on www.examplewire.com

Original/Source Press Release

Pickup - https://news.example.org

Pickup - metro.example.net/en

Reddit Post
"""


def test_syndication_lines_removed_wherever_they_stand():
    body = "# Acme Opens Plant\n\nAcme opened its third plant in Ohio on Monday, creating 300 jobs in the region." + WIRE_TAIL
    # the same furniture in the middle of a release (a wire archive pasted before the last paragraph)
    r = parse_release(body + "\nAcme shares rose 4 percent in early trading after the announcement.\n", "acme.md", ".md")
    assert r.paragraphs == (
        "Acme opened its third plant in Ohio on Monday, creating 300 jobs in the region.",
        "The company will report again in May.",
        "Acme shares rose 4 percent in early trading after the announcement.",
    )


def test_media_contact_block_removed_mid_release_but_not_sentences_with_an_address():
    text = (
        "Harbour Board Approves Dredging\n\nThe harbour board approved the dredging of the east channel on Tuesday.\n\n"
        "Media contacts:\n\nJane Roe\n\nHead of Communications\n\n+1 202 555 0182\n\njane.roe@example.org\n\n"
        "About the Harbour Board\n\nThe board manages the port. Questions can be sent to info@example.org.\n"
    )
    r = parse_release(text, "harbour.txt")
    assert r.paragraphs == (
        "The harbour board approved the dredging of the east channel on Tuesday.",
        "About the Harbour Board",
        "The board manages the port. Questions can be sent to info@example.org.",
    )
    labelled = parse_release(
        "Harbour Board Approves Dredging\n\nThe harbour board approved the dredging of the east channel.\n\n"
        "Hashtag: #harbour #dredging\n\nCorporate Communications\n\n"
        "Harbour Board, Portsmouth, +44 23 9200 0000, press@example.org\n",
        "labelled.txt",
    )
    assert labelled.paragraphs == ("The harbour board approved the dredging of the east channel.",)


def test_section_labels_return_links_and_end_marks_go():
    text = (
        "Press Releases\n\nSEN. DOE SECURES FLOOD FUNDING\n\nSen. Jane Doe announced $4 million for levee repairs in the "
        "county today.\n\n"
        '"These levees protect thousands of homes," Doe said. # # #\n\n### Return\n'
    )
    r = parse_release(text, "doe.txt")
    assert r.title == "SEN. DOE SECURES FLOOD FUNDING"
    assert r.paragraphs == (
        "Sen. Jane Doe announced $4 million for levee repairs in the county today.",
        '"These levees protect thousands of homes," Doe said.',
    )


def test_mojibake_ligatures_and_width_forms_repaired_first():
    assert repair("The minister\u00e2\u20ac\u2122s ﬁve-year plan, ＦＹ２０２４") == "The minister’s five-year plan, FY2024"
    assert repair("Miners™ Index, 12 m²") == "Miners™ Index, 12 m²"  # NFKC would glue "TM" and "2" to the word
    r = parse_release(
        "Budget Plan\n\nThe ministry\u00e2\u20ac\u2122s budget grows by ﬁve percent next year, the minister said.", "b.txt"
    )
    assert r.paragraphs[0] == "The ministry’s budget grows by five percent next year, the minister said."


def test_front_matter_read_as_yaml_with_iso_datetime_escapes_and_continuations():
    md = (
        '---\ntitle: "Port\\u00e9 Results \\\n  for 2016"\ndate: 2016-03-29T13:00:00.000Z\nsource: Example Wire\n---\n\n'
        "The port handled more ships than ever\nin [its history](https://example.org/history), the\nauthority said on Tuesday.\n"
    )
    r = parse_release(md, "port.md", ".md")
    assert r.title == "Porté Results for 2016"
    assert r.date == "2016-03-29"
    assert r.organisation == "Example Wire"
    assert r.paragraphs == ("The port handled more ships than ever in its history, the authority said on Tuesday.",)


def test_raw_html_inside_markdown_is_text():
    md = (
        '# Grant Awarded\n\n<p>The council awarded a <span style="color:red">grant</span> of S$2&nbsp;million'
        "<sup>[1]</sup> to the museum.</p><p>Work starts in May.</p>\n\nThe museum reopens in 2026.\n"
    )
    r = parse_release(md, "grant.md", ".md")
    assert r.paragraphs == (
        "The council awarded a grant of S$2 million[1] to the museum.",
        "Work starts in May.",
        "The museum reopens in 2026.",
    )


def test_kramdown_markup_numbered_paragraphs_and_category_dateline():
    md = (
        "---\ntitle: Port Fees Cut\n---\n12 May 2021 Posted in [Press releases](/news/press-releases)\n\n"
        '{:start="1"}\n1.&nbsp;&nbsp; The port cuts its fees from June.\n\n'
        '<ol start="2">\n<li>The cut covers:\n<ol style="list-style-type: lower-alpha;">\n'
        "<li>container ships;</li>\n<li>ferries.</li>\n</ol>\n</li>\n</ol>\n\n"
        '{:start="3"}\n3. See [Annex A - Fees (0.1MB)](/files/Annex A - Fees.pdf) for the table.{: .note}\n'
    )
    r = parse_release(md, "port.md", ".md")
    assert r.date == "2021-05-12"
    assert r.paragraphs == (
        "1. The port cuts its fees from June.",
        "2. The cut covers:",
        "a. container ships;",
        "b. ferries.",
        "3. See Annex A - Fees (0.1MB) for the table.",
    )


def test_html_site_suffixes_stripped_from_titles():
    assert (
        strip_site_suffix(
            "Venezuela: Parliament calls for sanctions | News | European Parliament", "European Parliament europarl.europa.eu"
        )
        == "Venezuela: Parliament calls for sanctions"
    )
    assert strip_site_suffix("Minister Opens Bridge - Ministry of Transport", "Ministry of Transport") == "Minister Opens Bridge"
    assert strip_site_suffix("Kim - the minister who came back", "example.gov") == "Kim - the minister who came back"


def test_dates_by_evidence_dateline_prepared_by_and_event_dates():
    prepared = parse_release(
        "Export Survey Shows Stronger First Quarter\n\nPrepared by the Statistics Office, May 23, 2021\n\n"
        "Exports rose by 4 percent in the first quarter of 2021, the survey found on March 3, 2021.",
        "survey.txt",
    )
    assert prepared.date == "2021-05-23"
    dateline = parse_release(
        "Clinic Opens\n\nThe health board said a new clinic will open in the town centre this year.\n\n"
        "Singapore – 4 March 2025 – The clinic will serve 20,000 residents.",
        "clinic.txt",
    )
    assert dateline.date == "2025-03-04"
    event = parse_release(
        "Court Case\n\nThe accused was arrested on 17 September 2013 after an operation by police.", "2013-09-18-court-case.txt"
    )
    assert event.date == "2013-09-18"  # the file name outranks an event the text reports


def test_one_line_scrape_headline_before_the_dateline_and_date_glued_to_headline():
    scrape = (
        "  Senator Doe   Ohio        Press Releases        May 9  2007 DOE BILL WOULD FUND RURAL CLINICS        "
        "WASHINGTON  D C  Senator Jane Doe introduced a bill today that would fund rural clinics across the state "
        "and train two hundred nurses a year  The bill has the support of both parties in the committee  "
    )
    r = parse_release(scrape, "doe-scrape.txt")
    assert r.title == "DOE BILL WOULD FUND RURAL CLINICS"
    assert r.date == "2007-05-09"
    assert r.paragraphs[0].startswith("WASHINGTON D C Senator Jane Doe introduced a bill")
    assert split_runs("2.         It is alleged") == "2. It is alleged"  # a numbered paragraph is not a break


def _pdf(
    path: Path, pages: list[list[tuple[str, float, bool]]], header: str | None = None, meta_title: str | None = None
) -> Path:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    if meta_title:
        pdf.set_title(meta_title)
    for number, blocks in enumerate(pages, start=1):
        pdf.add_page()
        if header:
            pdf.set_font("Helvetica", "", 7)
            pdf.set_xy(20, 10)
            pdf.cell(0, 4, header)
            pdf.set_xy(100, 285)
            pdf.cell(0, 4, f"Page {number} of {len(pages)}")
        pdf.set_xy(20, 30)
        for text, size, bold in blocks:
            pdf.set_font("Helvetica", "B" if bold else "", size)
            pdf.multi_cell(170, size * 0.5, text)
            pdf.ln(size * 0.45)
    pdf.output(str(path))
    return path


LONG = (
    "The ministry reported a primary budget surplus of 1.9 percent of output for 2023, above the target of 1.1 percent "
    "agreed with lenders, mainly because tax collection improved and spending on energy subsidies fell during the year"
)


def test_pdf_layout_headline_running_header_page_numbers_chart_values_and_page_break(tmp_path):
    path = _pdf(
        tmp_path / "surplus.pdf",
        [
            [
                ("MEDIA RELEASE", 11, True),
                ("Budget Surplus Beats Target for Second Year", 16, True),
                ("ATHENS, 30 January 2024 - " + LONG + ".", 11, False),
                ("107 103 118 132 136", 9, False),
                ("Tax revenue rose by 8 percent. " + LONG + " and the ministry expects", 11, False),
            ],
            [
                ("the surplus to narrow to 1.5 percent in 2024 as defence spending grows.", 11, False),
                ("Contacts:", 11, True),
                ("press@finance.example.gov", 11, False),
            ],
        ],
        header="MINISTRY OF FINANCE - To serve with integrity",
        meta_title="Microsoft Word - draft3.docx",
    )
    r = read_release(path)
    assert r.title == "Budget Surplus Beats Target for Second Year"
    assert r.date == "2024-01-30"
    assert not any("MINISTRY OF FINANCE" in p or "Page 1" in p or "107 103" in p or "press@" in p for p in r.paragraphs)
    assert r.paragraphs[-1].endswith(
        "the ministry expects the surplus to narrow to 1.5 percent in 2024 as defence spending grows."
    )
    assert not _ends_mid_sentence(r.paragraphs)
    assert len(r.paragraphs) == 2


def test_pdf_errors_say_how_to_fix(tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    with pytest.raises(CorpusError, match="not a readable PDF"):
        read_release(bad)


# ---------------------------------------------------------------- citations


def test_citation_paragraph_is_the_one_a_reader_counts():
    md = (
        "# Port Report\n\nThe port handled 2.4 million containers in 2023, a record for the authority.\n\n"
        "## Outlook\n\nThe authority will dredge the eastern channel in 2025 so that larger ships can call.\n"
    )
    r = parse_release(md, "port.md", ".md")
    assert r.paragraphs[1:] == ("Outlook", "The authority will dredge the eastern channel in 2025 so that larger ships can call.")
    dredge = next(c for c in chunk_release(r) if "dredge" in c.text)
    assert dredge.paragraph == 3  # where the reader finds "dredge", not the heading's paragraph 2
    assert dredge.text.startswith("Outlook\nThe authority will dredge")


# ---------------------------------------------------------------------- CLI


def test_parse_command_json_in_argument_order_and_errors_exit_nonzero(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    files = [REAL / "cpib_2012-06-06-former-scdf-chief-charged.md", empty, REAL / "senate_Vitter_28Jul2006Vitter244.txt"]
    code = main(["parse", *map(str, files), "--json"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [o["source"] for o in out] == [str(f) for f in files]
    assert out[0]["title"] == "Former SCDF Chief charged" and out[0]["date"] == "2012-06-06"
    assert set(out[0]) >= {"source", "title", "date", "paragraphs", "organisation", "language"}
    assert out[0]["language"] == "en" and len(out[0]["paragraphs"]) == 4
    assert (out[0]["title_from"], out[0]["date_from"]) == ("front matter", "file name")  # where each came from
    assert set(out[1]) == {"source", "error"} and "empty" in out[1]["error"]
    assert out[2]["title"] == "PROTECTING HUMAN LIFE"


def test_parse_command_human_output(capsys):
    assert main(["parse", str(REAL / "europarl_20201217IPR94207.html")]) == 0
    out = capsys.readouterr().out
    assert "title:        EU-UK relations: parliament adopts temporary contingency measures" in out
    assert "date:         2020-12-18  (metadata)" in out and "  1. " in out
