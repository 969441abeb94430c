"""Each service's NATS user may use its own subjects only; a connection without one is refused.

Against a real nats-server configured from `shared.platform.bus_users`, with the namespace of the
test (`t<hex>.attempts...`, streams `T<HEX>_ATTEMPTS`) and without one.
"""

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from devtools.embedded import EmbeddedNats, free_port, nats_server_binary, wait_for_port
from devtools.nats_auth import deploy_config, password_variable
from shared.platform.bus import BusNames, ensure_streams, inbox_prefix
from shared.platform.bus_users import BUS_USERS, PLANNER_DURABLE, ROSTER_DURABLE, SIS_DURABLE

ROOT = Path(__file__).resolve().parents[2]
TENANT = "school-a"


class Violations:
    """What the server reported to one client as a permissions violation."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error).lower())

    def about(self, subject: str) -> bool:
        return any(
            "permissions violation" in seen and subject.lower() in seen for seen in self.seen
        )


@contextlib.asynccontextmanager
async def connected_as(
    server: EmbeddedNats, user: str
) -> AsyncIterator[tuple[NatsClient, Violations]]:
    violations = Violations()
    client = await nats.connect(
        server.service_url(user), inbox_prefix=inbox_prefix(user), error_cb=violations.record,
        allow_reconnect=False,
    )  # fmt: skip
    try:
        yield client, violations
    finally:
        await client.close()


async def _stored(server: EmbeddedNats, stream: str) -> int:
    admin = await nats.connect(server.url)
    try:
        return (await admin.jetstream().stream_info(stream)).state.messages
    finally:
        await admin.close()


async def _declared(server: EmbeddedNats, bus: BusNames) -> None:
    admin = await nats.connect(server.url)
    await ensure_streams(admin.jetstream(), bus)
    await admin.close()


@pytest.fixture(params=["namespaced", "default"])
async def names(
    request: pytest.FixtureRequest, bus: BusNames, auth_nats: EmbeddedNats
) -> AsyncIterator[BusNames]:
    """This test's namespace, or none; the default namespace's streams are deleted afterwards."""
    chosen = bus if request.param == "namespaced" else BusNames()
    await _declared(auth_nats, chosen)
    yield chosen
    if not chosen.namespace:
        admin = await nats.connect(auth_nats.url)
        streams = (chosen.attempts_stream, chosen.mastery_stream, chosen.rosters_stream)
        for stream in (*streams, chosen.deadletter_stream):
            await admin.jetstream().delete_stream(stream)
        await admin.close()


async def _refused(url: str) -> str:
    client = NatsClient()
    try:
        await client.connect(url, allow_reconnect=False, connect_timeout=2)
    except nats.errors.Error as error:
        return str(error)
    finally:
        await client.close()  # nats-py leaves the refused connection's transport open otherwise
    return "accepted"


async def test_a_connection_without_credentials_is_refused(auth_nats: EmbeddedNats) -> None:
    assert "Authorization Violation" in await _refused(auth_nats.address)
    wrong = auth_nats.service_url("notify").replace("notify:", "notify:x", 1)
    assert "Authorization Violation" in await _refused(wrong)


async def _publishes(client: NatsClient, subject: str) -> bool:
    try:
        await client.jetstream().publish(subject, b"{}", timeout=1)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return False
    return True


async def test_only_attempts_publishes_attempts_and_only_mastery_publishes_changes(
    auth_nats: EmbeddedNats, names: BusNames
) -> None:
    attempt, change = names.attempts(TENANT, "recorded"), names.mastery_changed(TENANT)
    async with connected_as(auth_nats, "attempts") as (attempts, attempts_refused):
        assert await _publishes(attempts, attempt)
        assert not await _publishes(attempts, change)
        assert attempts_refused.about(change)
    async with connected_as(auth_nats, "mastery") as (mastery, mastery_refused):
        assert await _publishes(mastery, change)
        assert not await _publishes(mastery, attempt)
        assert mastery_refused.about(attempt)
    async with connected_as(auth_nats, "notify") as (notify, notify_refused):
        assert not await _publishes(notify, attempt)
        assert not await _publishes(notify, change)
        assert notify_refused.about(attempt)
    assert await _stored(auth_nats, names.attempts_stream) == 1
    assert await _stored(auth_nats, names.mastery_stream) == 1


async def test_only_mastery_publishes_rosters_and_only_notify_reads_them(
    auth_nats: EmbeddedNats, names: BusNames
) -> None:
    roster = names.rosters(TENANT)
    async with connected_as(auth_nats, "mastery") as (mastery, _):
        assert await _publishes(mastery, roster)
    for user in ("attempts", "notify", "sis"):
        async with connected_as(auth_nats, user) as (client, refused):
            assert not await _publishes(client, roster)
            assert refused.about(roster)
    async with connected_as(auth_nats, "notify") as (notify, _):
        config = ConsumerConfig(durable_name=ROSTER_DURABLE, filter_subject=names.all_rosters())
        await notify.jetstream().add_consumer(names.rosters_stream, config)
    # Names and addresses: the SIS reader gets no durable on ROSTERS, its own name or another.
    async with connected_as(auth_nats, "sis") as (sis, _):
        for durable in (SIS_DURABLE, ROSTER_DURABLE):
            with pytest.raises(nats.errors.TimeoutError):
                await sis.jetstream().add_consumer(
                    names.rosters_stream, ConsumerConfig(durable_name=durable), timeout=1
                )
    assert await _stored(auth_nats, names.rosters_stream) == 1


async def test_the_notifier_cannot_read_attempts(auth_nats: EmbeddedNats, names: BusNames) -> None:
    async with connected_as(auth_nats, "attempts") as (attempts, _):
        assert await _publishes(attempts, names.attempts(TENANT, "recorded"))
    async with connected_as(auth_nats, "notify") as (notify, refused):
        received: list[bytes] = []

        async def keep(message: Msg) -> None:
            received.append(message.data)

        await notify.subscribe(names.all_attempts(">"), cb=keep)
        js = notify.jetstream()
        with pytest.raises(nats.errors.TimeoutError):  # no consumer of its own on ATTEMPTS
            await js.add_consumer(
                names.attempts_stream, ConsumerConfig(durable_name="notify-planner"), timeout=1
            )
        with pytest.raises(nats.errors.TimeoutError):  # nor reading a message by sequence
            await js.get_msg(names.attempts_stream, 1)
        async with connected_as(auth_nats, "attempts") as (attempts, _):
            assert await _publishes(attempts, names.attempts(TENANT, "recorded"))
        await notify.flush()
        assert received == []
        assert refused.about(names.all_attempts(">"))
        assert refused.about(f"$JS.API.STREAM.MSG.GET.{names.attempts_stream}")


async def test_a_service_declares_only_the_streams_it_writes(
    auth_nats: EmbeddedNats, bus: BusNames
) -> None:
    async with connected_as(auth_nats, "notify") as (notify, refused):
        with pytest.raises(nats.errors.TimeoutError):
            await ensure_streams(notify.jetstream(), bus, only=[bus.attempts_stream])
        assert refused.about(f"$JS.API.STREAM.CREATE.{bus.attempts_stream}")
        await ensure_streams(notify.jetstream(), bus, only=[bus.deadletter_stream])
    assert await _stored(auth_nats, bus.deadletter_stream) == 0


def test_the_deploy_configuration_is_the_table_rendered_and_nats_server_accepts_it(
    tmp_path: Path,
) -> None:
    deployed = (ROOT / "deploy" / "nats-server.conf").read_text()
    assert deployed == deploy_config(), "regenerate: python -m devtools.nats_auth"
    assert "no_auth_user" not in deployed
    config = tmp_path / "nats-server.conf"
    config.write_text(deployed.replace("/data/jetstream", str(tmp_path / "js")))
    env = {**os.environ, **{password_variable(user): f"{user}-secret" for user in BUS_USERS}}
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(config), "-t"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout


async def test_the_deploy_configuration_refuses_what_the_table_does(tmp_path: Path) -> None:
    """The deployed file itself, run: a service's password works, and its permissions hold."""
    config = tmp_path / "nats-server.conf"
    config.write_text(deploy_config().replace("/data/jetstream", str(tmp_path / "js")))
    port = free_port()
    process = await asyncio.to_thread(_run_deployed, config, port)
    try:
        url = f"nats://mastery:mastery-secret@127.0.0.1:{port}"
        violations = Violations()
        client = await nats.connect(
            url, inbox_prefix=inbox_prefix("mastery"), error_cb=violations.record
        )
        try:
            await ensure_streams(client.jetstream(), BusNames(), only=["MASTERY"])
            assert await _publishes(client, BusNames().mastery_changed(TENANT))
            assert not await _publishes(client, BusNames().attempts(TENANT, "recorded"))
            assert violations.about("attempts.school-a.recorded")
        finally:
            await client.close()
    finally:
        process.terminate()
        process.wait(10)


def _run_deployed(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **{password_variable(user): f"{user}-secret" for user in BUS_USERS}}
    process = subprocess.Popen(
        [nats_server_binary(), "-c", str(config), "-a", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, 30, process)
    return process


async def test_the_sis_user_reads_mastery_changes_through_its_own_durable_and_nothing_else(
    auth_nats: EmbeddedNats, names: BusNames
) -> None:
    change = names.mastery_changed(TENANT)
    async with connected_as(auth_nats, "mastery") as (mastery, _):
        assert await _publishes(mastery, change)
    async with connected_as(auth_nats, "sis") as (sis, refused):
        js = sis.jetstream()
        config = ConsumerConfig(
            durable_name=SIS_DURABLE, filter_subject=names.all_mastery_changed()
        )
        await js.add_consumer(names.mastery_stream, config)
        subscription = await js.pull_subscribe_bind(SIS_DURABLE, names.mastery_stream)
        [message] = await subscription.fetch(1, timeout=5)
        assert message.subject == change
        await message.ack_sync()
        assert not await _publishes(sis, change)  # read-only
        assert not await _publishes(sis, names.deadletter(SIS_DURABLE))
        with pytest.raises(nats.errors.TimeoutError):  # nor the notifier's durable
            await js.add_consumer(
                names.mastery_stream, ConsumerConfig(durable_name=PLANNER_DURABLE), timeout=1
            )
        with pytest.raises(nats.errors.TimeoutError):  # nor a durable on ATTEMPTS
            await js.add_consumer(
                names.attempts_stream, ConsumerConfig(durable_name=SIS_DURABLE), timeout=1
            )
        with pytest.raises(nats.errors.TimeoutError):
            await ensure_streams(js, names, only=[names.deadletter_stream])
        assert refused.about(change)
        assert refused.about(f"{names.mastery_stream}.{PLANNER_DURABLE}")
        assert refused.about(f"$JS.API.STREAM.CREATE.{names.deadletter_stream}")
