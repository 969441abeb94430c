"""Guardians from the roster, resolved from notify's copy of the roster's people."""

from services.notify.core.roster_links import RosterContact, guardians_of, is_newer


def _student(*guardian_ids: str, number: int = 1) -> RosterContact:
    return RosterContact(
        person_id="s1",
        number=number,
        role="student",
        display_name="Ana B",
        guardian_ids=guardian_ids,
    )


def _guardian(person_id: str, email: str | None, language: str | None = None) -> RosterContact:
    return RosterContact(
        person_id=person_id, number=2, role="guardian", display_name=f"P {person_id}",
        email=email, language=language,
    )  # fmt: skip


def test_a_link_resolves_to_the_guardians_address_name_and_language() -> None:
    people = {"g1": _guardian("g1", "g1@example.org", "es")}
    links = guardians_of(_student("g1"), people)
    [guardian] = links.guardians
    assert (guardian.email, guardian.name, guardian.language) == ("g1@example.org", "P g1", "es")
    assert guardian.person_id == "g1"


def test_a_guardian_without_an_email_is_skipped_and_named() -> None:
    people = {"g1": _guardian("g1", None), "g2": _guardian("g2", "g2@example.org")}
    links = guardians_of(_student("g1", "g2"), people)
    assert [each.email for each in links.guardians] == ["g2@example.org"]
    assert links.without_email == ("g1",)
    assert links.guardians[0].language == "en"  # none given: English


def test_a_link_to_someone_not_on_record_yet_waits_and_a_removed_one_is_gone() -> None:
    removed = RosterContact(person_id="g2", number=3, role="guardian", removed=True)
    links = guardians_of(_student("g1", "g2"), {"g2": removed})
    assert links.guardians == ()
    assert links.without_email == ()


def test_a_removed_student_or_someone_else_has_no_roster_guardians() -> None:
    people = {"g1": _guardian("g1", "g1@example.org")}
    gone = RosterContact(
        person_id="s1", number=4, role="student", guardian_ids=("g1",), removed=True
    )
    teacher = RosterContact(person_id="t1", number=4, role="teacher", guardian_ids=("g1",))
    assert guardians_of(gone, people).guardians == ()
    assert guardians_of(teacher, people).guardians == ()
    assert guardians_of(None, people).guardians == ()


def test_one_address_linked_twice_is_one_guardian() -> None:
    people = {"g1": _guardian("g1", "Same@example.org"), "g2": _guardian("g2", "same@example.org")}
    assert len(guardians_of(_student("g1", "g2"), people).guardians) == 1


def test_only_a_newer_event_is_news() -> None:
    on_record = _student(number=5)
    assert is_newer(1, None)
    assert is_newer(6, on_record)
    assert not is_newer(5, on_record)  # redelivered
    assert not is_newer(4, on_record)  # older, come late
