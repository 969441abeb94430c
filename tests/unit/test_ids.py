"""Identifiers match whole: nothing after the last allowed character, not even a newline."""

import unicodedata

import msgspec
import pytest

from shared.contract.ids import OpaqueId, TenantId, is_valid_opaque_id, is_valid_tenant_id


class Ids(msgspec.Struct):
    tenant: TenantId
    student: OpaqueId


@pytest.mark.parametrize(
    ("tenant", "student"),
    [("school\n", "maya"), ("school", "maya\n"), ("school", "ma\x07ya"), ("school", "ma ya"),
     ("School", "maya"), ("school", "ma/ya"), ("school", ""), ("school", "m" * 129)],
)  # fmt: skip
def test_an_id_with_anything_outside_its_pattern_is_refused(tenant: str, student: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"tenant": tenant, "student": student}, Ids)


def test_valid_ids_pass_whole() -> None:
    ids = msgspec.convert({"tenant": "school-1", "student": "maya.é-7"}, Ids)
    assert (ids.tenant, ids.student) == ("school-1", "maya.é-7")
    assert is_valid_tenant_id("school-1")
    assert not is_valid_tenant_id("school-1\n")


REFUSED_CATEGORIES = {"Cc", "Cf", "Zs", "Zl", "Zp"}


def test_every_control_format_and_separator_character_of_the_bmp_is_refused() -> None:
    refused = [
        code
        for code in range(0x10000)
        if unicodedata.category(chr(code)) in REFUSED_CATEGORIES
        and is_valid_opaque_id(f"a{chr(code)}b")
    ]
    assert refused == []


def test_every_other_character_is_allowed_but_the_slash() -> None:
    wrongly_refused = [
        hex(code)
        for code in range(0x10000)
        if unicodedata.category(chr(code)) not in REFUSED_CATEGORIES | {"Cs"}
        and chr(code) != "/"
        and not is_valid_opaque_id(f"a{chr(code)}b")
    ]
    assert wrongly_refused == []


@pytest.mark.parametrize(
    "student", ["ma\u202eya", "ma\u200bya", "ma\u0085ya", "ma\u2028ya", "ma\xa0ya", "\ufeffmaya"]
)
def test_bidi_zero_width_c1_and_unicode_separators_are_refused(student: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"at `\$.student`"):
        msgspec.convert({"tenant": "school", "student": student}, Ids)
