"""Family emails as rendered: both languages, escaping, fallback, complete catalogs, and golden
copies of what a family receives (`UPDATE_GOLDEN=1` rewrites them; review the diff)."""

import os
from pathlib import Path
from typing import Any, Literal

import msgspec
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.notify.adapters.rendering import LOCALES, TEMPLATES, Renderer
from services.notify.adapters.smtp import build_message
from services.notify.core.messages import (
    Email,
    EmailFacts,
    FamilyReport,
    email_facts,
    language_of,
    portal_url,
)
from shared.contract.events.mastery import ReassessmentOutlook
from tests.support.family_email import (
    CHANGE,
    REPORT,
    SETTINGS,
    STUDENT_NAME,
    UNSUBSCRIBE_URL,
    guardian,
)

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"
RENDERER = Renderer()


def _render(
    language: str,
    student_name: str = STUDENT_NAME,
    report: FamilyReport | None = REPORT,
    **change: Any,
) -> Email:
    event = msgspec.structs.replace(CHANGE, **change)
    facts = email_facts(
        event, guardian(language), student_name, SETTINGS, UNSUBSCRIBE_URL, report=report
    )
    return RENDERER.render(facts, "rosa@example.org", SETTINGS.reply_to)


def test_the_english_email_names_the_student_the_standard_levels_evidence_and_link() -> None:
    email = _render("en")
    assert email.subject == "Noah Díaz has mastered “Add and subtract fractions”"
    assert "Now: Proficient (level 3) - mastered." in email.body
    assert "Before: Developing (level 2) - not yet mastered." in email.body
    assert "Assessment quiz-2-noah of October 1, 2026." in email.body  # New York's day
    assert "now 3.25 (before: 2.5)" in email.body
    assert "the most recent evidence counts most" in email.body
    assert "decaying" not in email.body + email.html
    link = "https://portal.example.org/students/noah/standards/math.fractions"
    assert link in email.body
    assert f'href="{link}"' in email.html


def test_the_spanish_email_is_in_spanish_with_spanish_dates_and_numbers() -> None:
    email = _render("es-MX")
    assert email.language == "es"
    assert email.subject == "Noah Díaz ha alcanzado el dominio de «Add and subtract fractions»"
    assert "Evaluación quiz-2-noah del 1 de octubre de 2026." in email.body
    assert "3,25 (antes: 2,5)" in email.body
    assert '<html lang="es">' in email.html


@pytest.mark.parametrize("tag", ["fr", "de-AT", "zh-Hant-TW"])
def test_other_languages_read_english(tag: str) -> None:
    assert language_of(tag) == "en"
    assert _render(tag).body == _render("en").body


def test_a_malicious_display_name_is_escaped_in_html_and_kept_as_text() -> None:
    email = _render("en", student_name='<img src=x onerror="alert(1)">')
    assert "<img" not in email.html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in email.html
    assert '<img src=x onerror="alert(1)"> has mastered' in email.body


def test_without_a_display_name_or_title_the_email_uses_the_ids() -> None:
    email = _render("en", student_name="", standard_title=None)
    assert email.subject == "noah has mastered “math.fractions”"


@pytest.mark.parametrize(
    ("change", "sentence"),
    [({"reason": "correction"}, "A teacher corrected an earlier assessment"),
     ({"reason": "policy"}, "The school changed how this standard is graded"),
     ({"mastered": False, "level": 1, "level_label": None},
      "can show this standard again on a later assessment")],
)  # fmt: skip
def test_the_explanation_follows_the_reason_and_the_standing(
    change: dict[str, Any], sentence: str
) -> None:
    assert sentence in _render("en", **change).body


def _rules(used: int, limit: int | None, corrective: bool = False) -> ReassessmentOutlook:
    return ReassessmentOutlook(
        reassessments_used=used, max_reassessments=limit, corrective_work_required=corrective
    )


NOT_YET: dict[str, Any] = {
    "mastered": False, "level": 2, "level_label": "Developing", "score": 2.0,
    "previous_level": 1, "previous_level_label": "Beginning", "previous_score": 1.0,
}  # fmt: skip


@pytest.mark.parametrize(
    ("rules", "says", "never"),
    [(_rules(1, 3, corrective=True),
      ["can be reassessed on this standard 2 more times (of 3 allowed).",
       "This standard asks for corrective work with the teacher before each reassessment."],
      ["can show this standard again"]),
     (_rules(2, 3), ["can be reassessed on this standard 1 more time (of 3 allowed)."],
      ["corrective work"]),
     (_rules(3, 3, corrective=True),
      ["has used all 3 reassessments this standard allows"], ["corrective work", "more time"]),
     (_rules(0, 0), ["This standard allows no reassessment"], ["more time"]),
     (_rules(4, None), ["can be reassessed on this standard after more practice"], ["allowed"]),
     (None, ["can show this standard again on a later assessment"], ["reassessed"])],
)  # fmt: skip
def test_what_comes_next_follows_the_standards_reassessment_rules(
    rules: ReassessmentOutlook | None, says: list[str], never: list[str]
) -> None:
    email = _render("en", **NOT_YET, reassessment=rules)
    for sentence in says:
        assert sentence in email.body
        assert sentence in email.html
    for words in never:
        assert words not in email.body
    assert "Missing work never counts as a zero." in email.body


def test_what_comes_next_in_spanish_counts_in_spanish() -> None:
    one = _render("es", **NOT_YET, reassessment=_rules(2, 3, corrective=True)).body
    assert "puede presentar 1 nueva evaluación más en este estándar (de 3 permitidas)." in one
    assert "trabajo de refuerzo con el docente antes de cada nueva evaluación" in one
    two = _render("es", **NOT_YET, reassessment=_rules(0, 2)).body
    assert "puede presentar 2 nuevas evaluaciones más en este estándar (de 2 permitidas)." in two


def test_a_mastered_standard_says_to_keep_practising_whatever_the_rules() -> None:
    body = _render("en", reassessment=_rules(3, 3, corrective=True)).body
    assert "has shown what this standard asks" in body
    assert "reassess" not in body


def test_ids_in_the_portal_link_are_percent_encoded() -> None:
    link = portal_url("https://p.example/{student_id}/{standard_id}", "a/b c", "m?x")
    assert link == "https://p.example/a%2Fb%20c/m%3Fx"


def test_every_message_of_the_templates_is_translated_in_every_catalog() -> None:
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(TEMPLATES), [("**", "jinja2")], {"**": {"extensions": "jinja2.ext.i18n"}}
        )
    }
    assert len(extracted) > 30
    for language in ("en", "es"):
        with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalog = read_po(po)
        missing = [
            message
            for message in extracted
            if not (catalog.get(message) and catalog[message].string) or catalog[message].fuzzy
        ]
        assert not missing, f"untranslated in {language}: {missing}"


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("form", ["txt", "html"])
def test_the_email_matches_its_golden_copy(language: str, form: str) -> None:
    email = _render(language)
    rendered = f"Subject: {email.subject}\n\n{email.body}" if form == "txt" else email.html
    golden = GOLDEN / f"change_{language}.{form}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), f"{golden} differs (UPDATE_GOLDEN=1)"


def _render_many(language: str, kind: Literal["changes", "policy", "digest"]) -> Email:
    """Three standards of Noah's (the multi-standard email), or the same as a policy summary or a
    digest."""
    titles = ["Add and subtract fractions", "Compare ratios", "Read a coordinate plane"]
    # The third is not mastered yet, under a standard that allows three reassessments.
    changes = [{}, {}, {**NOT_YET, "reassessment": _rules(1, 3, corrective=True)}]
    facts = [
        email_facts(
            msgspec.structs.replace(
                CHANGE, standard_id=f"s{n}", standard_title=title, **changes[n]
            ),
            guardian(language),
            STUDENT_NAME,
            SETTINGS,
            report=REPORT,
        )
        for n, title in enumerate(titles)
    ]
    return RENDERER.render_many(facts, "rosa@example.org", SETTINGS.reply_to, kind=kind)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("form", ["txt", "html"])
@pytest.mark.parametrize("kind", ["changes", "policy", "digest"])
def test_the_multi_standard_emails_match_their_golden_copies(
    language: str, form: str, kind: Literal["changes", "policy", "digest"]
) -> None:
    email = _render_many(language, kind)
    rendered = f"Subject: {email.subject}\n\n{email.body}" if form == "txt" else email.html
    golden = GOLDEN / f"{kind}_{language}.{form}"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), f"{golden} differs (UPDATE_GOLDEN=1)"


def test_the_multi_standard_emails_say_what_each_is() -> None:
    assert _render_many("en", "changes").subject == "News on 3 standards for Noah Díaz"
    assert _render_many("es", "policy").subject == (
        "La escuela cambió la forma de calcular el dominio"
    )
    digest = _render_many("es", "digest")
    assert digest.subject == "Lo que ha cambiado en la escuela"
    assert "Esto es lo que ha cambiado desde el último resumen:" in digest.body
    assert digest.body.count("ha alcanzado el dominio") == 2
    assert digest.body.count("Lo que sigue:") == 3
    assert "puede presentar 2 nuevas evaluaciones más en este estándar" in digest.body


def test_a_copy_built_again_carries_the_same_date_and_headers() -> None:
    planned = msgspec.structs.replace(_render("es"), date=CHANGE.changed_at)
    first, again = (build_message(planned, "Updates <u@school.example>", "<m@x>") for _ in "ab")
    assert first["Date"] == again["Date"] == "Thu, 01 Oct 2026 23:30:00 +0000"
    assert (first["Content-Language"], first["Reply-To"]) == ("es", "office@school.example.org")
    assert [part.get_content_type() for part in first.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Stop these emails"), ("es", "Dejar de recibir estos correos")],
)
def test_the_email_carries_a_visible_unsubscribe_link_in_its_language(
    language: str, words: str
) -> None:
    email = _render(language)
    assert f"{words}: {UNSUBSCRIBE_URL}" in email.body
    assert f'<a href="{UNSUBSCRIBE_URL}" style="color:#6b7280;">{words}</a>' in email.html
    assert email.unsubscribe_url == UNSUBSCRIBE_URL


def test_the_message_offers_one_click_unsubscribe_by_rfc_8058() -> None:
    message = build_message(_render("en"), "Updates <u@school.example>", "<m@x>")
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE_URL}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    without = msgspec.structs.replace(_render("en"), unsubscribe_url="")
    bare = build_message(without, "Updates <u@school.example>", "<m@x>")
    assert bare["List-Unsubscribe"] is None
    assert bare["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_unsubscribe_page_matches_its_golden_copy(language: str) -> None:
    rendered = RENDERER.page(
        "unsubscribe.html",
        language,
        state="confirm",
        address="rosa@example.org",
        action="/v1/unsubscribe/eyJ0ZXN0Ijp0cnVlfQ.c2lnbmVk",
    )
    golden = GOLDEN / f"unsubscribe_{language}.html"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8"), f"{golden} differs (UPDATE_GOLDEN=1)"


def test_the_unsubscribe_page_escapes_what_it_shows() -> None:
    page = RENDERER.page("unsubscribe.html", "en", state="done", address="<b>x</b>@example.org")
    assert "&lt;b&gt;x&lt;/b&gt;@example.org" in page
    assert "<b>" not in page


@pytest.mark.parametrize(
    ("language", "line", "note"),
    [("en", "See Noah Díaz's full report",
      "Every standard, with the evidence behind it. The link works until October 31, 2026."),
     ("es-MX", "Ver el informe completo de Noah Díaz",
      "Cada estándar, con la evidencia que lo respalda. El enlace funciona hasta el 31 de "
      "octubre de 2026.")],
)  # fmt: skip
def test_the_email_links_the_students_family_report_until_its_day_in_its_language(
    language: str, line: str, note: str
) -> None:
    email = _render(language)
    assert f"{line}: {REPORT.url}\n({note})\n" in email.body
    assert f'<a href="{REPORT.url}" style="' in email.html
    assert f">{line}</a>" in email.html
    assert f">{note}</span>" in email.html


def test_without_a_report_link_the_email_has_no_report_line_and_reads_as_before() -> None:
    email = _render("en", report=None)
    assert "full report" not in email.body + email.html
    assert "family-reports" not in email.body + email.html
    assert "What comes next:" in email.body
    assert "\n\n\n" not in email.body  # no gap where the line was
    many = RENDERER.render_many(
        [email_facts(CHANGE, guardian("es"), STUDENT_NAME, SETTINGS)] * 2,
        "rosa@example.org",
        kind="digest",
    )
    assert "informe completo" not in many.body + many.html


def test_a_digest_links_each_students_report_once() -> None:
    def facts(student: str, name: str, standard: str) -> EmailFacts:
        change = msgspec.structs.replace(CHANGE, student_id=student, standard_id=standard)
        report = FamilyReport(url=f"{REPORT.url}-{student}", expires_at=REPORT.expires_at)
        return email_facts(change, guardian("en"), name, SETTINGS, report=report)

    items = [facts("noah", "Noah", "s1"), facts("noah", "Noah", "s2"), facts("ana", "Ana", "s1")]
    email = RENDERER.render_many(items, "rosa@example.org", kind="digest")
    assert email.body.count("full report") == 2
    assert f"See Noah's full report: {REPORT.url}-noah\n" in email.body
    assert f"See Ana's full report: {REPORT.url}-ana\n" in email.body
    assert email.html.count(f'href="{REPORT.url}-noah"') == 1
