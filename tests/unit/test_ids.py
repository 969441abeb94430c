"""Identifiers match whole: nothing after the last allowed character, not even a newline."""

import msgspec
import pytest

from shared.contract.ids import OpaqueId, TenantId, is_valid_tenant_id


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
