"""`NATS_URL` naming one server or a cluster's nodes: the credentials go to every node."""

import pytest

from shared.platform.bus import ServerList


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "nats://attempts:pw@127.0.0.1:4222",
            ServerList(("nats://127.0.0.1:4222",), "attempts", "pw"),
        ),
        (
            "nats://mastery:pw@n1:4222, nats://n2:4222,nats://mastery:pw@n3:4222",
            ServerList(("nats://n1:4222", "nats://n2:4222", "nats://n3:4222"), "mastery", "pw"),
        ),
        ("nats://127.0.0.1:4222", ServerList(("nats://127.0.0.1:4222",), None, None)),
        ("nats://token@n1:4222", ServerList(("nats://token@n1:4222",), None, None)),
    ],
)
def test_the_credentials_are_lifted_from_the_urls(url: str, expected: ServerList) -> None:
    assert ServerList.parse(url) == expected
