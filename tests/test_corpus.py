"""Cleaning and metadata on fixture releases shaped like other ministries' and wires', and on the seeds."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, SEEDS

from qa.cleaning import clean_text, is_navigation
from qa.corpus import parse_release, read_corpus, read_release
from qa.errors import CorpusError
from qa.metadata import find_date

NOISE = [
    "바로가기",
    "Skip to",
    "Cookies",
    "Menu",
    "Share this",
    "Back to top",
    "Crown copyright",
    "Public Release",
    "Mirage.News",
    "View in full",
    "###",
    "Media contact",
    "press@acme",
    "SOURCE Acme",
    "ページ",
    "メニュー",
    "Facebook",
]


def _release(name: str):
    return read_release(FIXTURES / name, FIXTURES)


def test_seed_mofa_release_drops_korean_skip_links_and_label():
    r = read_release(SEEDS / "000_caf02737a2f89f36.txt", SEEDS)
    assert r.title == "ROK-UN High-level Consultation on Disarmament and Non-proliferation Takes Place"
    assert r.section is None  # "Press Releases" names the kind of page, not who issued it
    assert r.date is None  # "January 14" has no year: no guess
    assert r.paragraphs[0].startswith("1. The ROK-UN High-level Consultation")
    assert r.paragraphs[2].startswith("o In particular")  # sub-bullets are paragraphs
    assert len(r.paragraphs) == 8


def test_seed_wire_release_drops_syndication_footer():
    r = read_release(SEEDS / "003_739443eadc7a4b5c.txt", SEEDS)
    assert r.title == "ROK-UNCMS Defense Ministerial Meeting Statement Released"
    assert r.section == "National Defence"
    assert r.date == "2024-09-10"
    assert r.paragraphs[-1].startswith("The defense ministers and representatives expressed their gratitude")
    assert len(r.paragraphs) == 11


@pytest.mark.parametrize("folder", [SEEDS, FIXTURES])
def test_no_boilerplate_reaches_any_paragraph(folder):
    for release in read_corpus(folder):
        for para in (*release.paragraphs, release.title):
            for noise in NOISE:
                assert noise not in para, (release.source, noise, para)
            assert "\u00a0" not in para and "  " not in para


def test_government_page_with_menu_breadcrumbs_cookie_banner():
    r = _release("ministry_uk.txt")
    assert r.title == "New funding for coastal flood defences announced"  # NBSP normalised
    assert r.section is None  # "Press release" names the kind of page, not who issued it
    assert r.date == "2023-03-03"
    assert r.paragraphs[0].startswith("The Department for Environment has announced £120 million")
    assert r.paragraphs[-1].startswith("Environment Minister Jane Holloway said")
    assert len(r.paragraphs) == 3


def test_wire_copy_footer_contacts_and_end_marker_removed():
    r = _release("wire_copy.txt")
    assert r.title == "Acme Robotics Opens Assembly Plant in Ohio, Creating 800 Jobs"
    assert r.date == "2023-03-05"
    assert r.paragraphs[-1] == "Production starts in April with two lines; a third line is planned for 2025."


def test_foreign_script_ui_strings_removed_from_english_release():
    r = _release("ministry_jp.txt")
    assert r.title == "Foreign Minister Meets Philippine Counterpart in Tokyo"
    assert (r.section, r.date) == ("Statements", "2022-04-15")
    assert r.paragraphs[-1] == "(2) The two ministers agreed to hold the next meeting in Manila."
    assert len(r.paragraphs) == 4


def test_non_latin_release_keeps_its_own_text():
    text = (
        "국방부 보도자료\n\n국방부는 오늘 서울에서 한미 국방장관 회담을 개최했다고 밝혔다. "
        "양측은 연합훈련을 확대하기로 합의했다.\n\n짧은 문장"
    )
    _meta, body = clean_text(text)
    assert body[0].startswith("국방부는 오늘")
    assert "짧은 문장" in body  # short Korean lines are content in a Korean release


def test_bullets_and_inline_disclaimer():
    r = _release("syndicated.txt")
    assert r.section == "Transport"
    assert r.date is None
    assert r.paragraphs[1:4] == (
        "- The subsidy applies to all licensed rural operators.",
        "- Operators must apply by the end of the quarter.",
        "* Passengers need no new card.",
    )
    assert r.paragraphs[-1].endswith("according to its impact assessment.")
    run_on = (
        "Title of a statement here\n\nThe statement says a great deal about many things in the world today./Public Release. "
        "This material from the originating organization/author(s) might be of the point-in-time nature."
    )
    assert parse_release(run_on, "x.txt").paragraphs[-1].endswith("world today.")


def test_markdown_headings_links_and_front_matter():
    r = _release("release.md")
    assert r.title == "Harbour Authority Reports Record Container Volumes"
    assert r.date == "2024-02-01"
    assert r.paragraphs == (
        "The Harbour Authority handled 2.4 million containers in 2023, a record for the port and 8% more than in 2022.",
        "Outlook",
        "Chair Ama Mensah said the authority will dredge the eastern channel in 2025 so that larger ships can call at the port.",
    )


def test_hard_wrapped_text_is_rejoined():
    text = (
        "A Headline For The Wrapped Release\n\n"
        "The council approved the new budget on Tuesday after a long debate that\n"
        "lasted most of the afternoon and ended with a vote of seven to two in\n"
        "favour of the proposal.\n"
        "A second paragraph starts here and it is also wrapped at about seventy\n"
        "characters per line like old plain-text releases.\n"
    )
    _, body = clean_text(text)
    assert body == [
        "The council approved the new budget on Tuesday after a long debate that lasted most of the afternoon and ended with "
        "a vote of seven to two in favour of the proposal.",
        "A second paragraph starts here and it is also wrapped at about seventy characters per line like old plain-text "
        "releases.",
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("held in Seoul on September 10, 2024.", "2024-09-10"),
        ("on 3 March 2023", "2023-03-03"),
        ("Sept. 10, 2024 (Yonhap)", "2024-09-10"),
        ("2022.04.15", "2022-04-15"),
        ("2021-01-14", "2021-01-14"),
        ("on January 14 in a virtual format", None),
        ("in 2019", None),
        ("February 30, 2024", None),
    ],
)
def test_dates_need_a_year(text, expected):
    assert find_date(text) == expected


def test_date_from_archive_file_name():
    assert (
        parse_release("Senator speaks about farms and the broadband bill for rural towns today.", "10Apr2006Boxer254.txt").date
        == "2006-04-10"
    )


@pytest.mark.parametrize(
    "line", ["Skip to main content", "본문 바로가기", "Home > News > Press releases", "Share this page", "|", "Menu"]
)
def test_navigation_patterns(line):
    assert is_navigation(line)


def test_navigation_does_not_eat_content():
    assert not is_navigation("The minister will visit Seoul next week to discuss trade.")
    assert not is_navigation("Search and rescue teams were deployed.")


def test_bad_files_give_clear_errors(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match=r"empty.txt is empty"):
        read_release(tmp_path / "empty.txt", tmp_path)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 opening statement".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1.txt is not UTF-8.*iconv"):
        read_release(tmp_path / "latin1.txt", tmp_path)
    (tmp_path / "nav.txt").write_text("Menu\nSearch\nHome\n")
    with pytest.raises(CorpusError, match="no release text left"):
        read_release(tmp_path / "nav.txt", tmp_path)
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "nope")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(CorpusError, match="has no release files"):
        read_corpus(empty)
