"""examples/sis_subscriber.py, run as a process against a real nats-server as the `sis` user.

It prints each change once, stops cleanly on SIGTERM, and on restart resumes from its own durable
position: changes published while it was down are printed, none printed before is printed again.
"""

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.aio.client import Client as NatsClient

from devtools.embedded import EmbeddedNats
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from shared.platform.bus import BusNames, ensure_streams, inbox_prefix
from shared.platform.outbox import publish_all

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sis_subscriber.py"
NOW = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
TENANT = "school"
CODEC = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)
LABELS = {1: "Beginning", 2: "Developing", 3: "Proficient", 4: "Advanced"}


def _change(number: int) -> CloudEvent[AnyMasteryEvent]:
    """The `number`th change of lee on math.ratio: level 1, 2, 3, 4, 1, ..."""
    level, previous = (number - 1) % 4 + 1, (number - 2) % 4 + 1 if number > 1 else None
    change = MasteryChanged(
        tenant_id=TENANT, student_id="lee", standard_id="math.ratio", change_id=str(uuid.uuid4()),
        previous_level=previous, previous_mastered=bool(previous and previous >= 3),
        level=level, level_label=LABELS[level], mastered=level >= 3, score=level,
        method="latest", caused_by_attempt_id=f"a{number}", caused_by_event_id=str(uuid.uuid4()),
        assessed_at=NOW, changed_at=NOW, standard_title="Ratios",
        previous_score=previous, previous_level_label=LABELS.get(previous or 0),
    )  # fmt: skip
    return CloudEvent[AnyMasteryEvent](
        id=change.change_id, source="/services/mastery", type=cloudevent_type(change),
        subject=f"{TENANT}/lee/math.ratio", time=NOW, tenantid=TENANT, streamversion=number,
        data=change,
    )  # fmt: skip


async def _publish(mastery: NatsClient, bus: BusNames, numbers: range) -> None:
    """As the mastery relay publishes: `publish_all`, as the mastery user."""
    messages = [
        (bus.mastery_changed(TENANT), change.id, CODEC.encode(change))
        for change in map(_change, numbers)
    ]
    await publish_all(mastery.jetstream(), messages, 5)


class Subscriber:
    """The example as a child process: its stdout lines as they come, its log in a file."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    async def lines(self, count: int, within: float = 20) -> list[dict[str, Any]]:
        assert self.process.stdout is not None
        read: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while len(read) < count:
                line = await self.process.stdout.readline()
                assert line, f"the subscriber exited early: {self.log.read_text()}"
                read.append(json.loads(line))
        return read

    async def stop(self) -> tuple[int, list[dict[str, Any]], str]:
        """SIGTERM; its exit status, what else it printed and its log."""
        assert self.process.stdout is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            stdout = await asyncio.wait_for(self.process.stdout.read(), 20)
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            raise AssertionError(f"it did not stop: {self.log.read_text()}") from None
        printed = [json.loads(line) for line in stdout.decode().splitlines()]
        assert self.process.returncode is not None
        return self.process.returncode, printed, self.log.read_text()


@contextlib.asynccontextmanager
async def running_subscriber(
    server: EmbeddedNats, bus: BusNames, log: Path
) -> AsyncIterator[Subscriber]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "NATS_URL": server.service_url("sis"),
        "BUS_NAMESPACE": bus.namespace,
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        yield Subscriber(process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _versions(printed: list[dict[str, Any]]) -> list[int]:
    return [line["streamversion"] for line in printed]


async def test_the_example_prints_each_change_once_and_resumes_from_its_durable_after_a_restart(
    auth_nats: EmbeddedNats, bus: BusNames, tmp_path: Path
) -> None:
    admin = await nats.connect(auth_nats.url)
    await ensure_streams(admin.jetstream(), bus)
    await admin.close()
    mastery = await nats.connect(
        auth_nats.service_url("mastery"), inbox_prefix=inbox_prefix("mastery")
    )
    try:
        await _publish(mastery, bus, range(1, 3))
        async with running_subscriber(auth_nats, bus, tmp_path / "first.log") as first:
            printed = await first.lines(2)
            assert _versions(printed) == [1, 2]
            assert printed[1] == {
                "change": printed[1]["change"], "streamversion": 2, "student": "lee",
                "standard": "math.ratio", "title": "Ratios", "case_guid": None,
                "from": ["Beginning", 1], "to": ["Developing", 2], "mastered": False,
                "reason": "evidence",
            }  # fmt: skip
            status, more, log = await first.stop()
        assert (status, more) == (0, []), log
        assert "stopped" in log

        await _publish(mastery, bus, range(3, 5))  # while it is down
        # Neither the relay's header nor a number: as changes published before both were sent.
        legacy = msgspec.json.encode(msgspec.structs.replace(_change(5), streamversion=None))
        await mastery.jetstream().publish(bus.mastery_changed(TENANT), legacy)
        await mastery.jetstream().publish(bus.mastery_changed(TENANT), b"not json")
        async with running_subscriber(auth_nats, bus, tmp_path / "second.log") as second:
            printed = await second.lines(3)
            assert _versions(printed)[:2] == [3, 4]
            assert printed[2]["streamversion"] is None
            assert printed[2]["to"] == ["Beginning", 1]
            await _publish(mastery, bus, range(6, 7))
            assert _versions(await second.lines(1)) == [6]
            status, more, log = await second.stop()
        assert (status, more) == (0, []), log
        assert "skipping message 6: Expecting value" in log
    finally:
        await mastery.close()
