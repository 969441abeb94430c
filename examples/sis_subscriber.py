"""A starting point for an SIS integration: receive every mastery change, once, in order.

    NATS_URL=nats://sis:<password>@nats.example.org:4222 python examples/sis_subscriber.py

It needs nothing of the gradebook but `nats-py` (pip install nats-py). It connects as the
read-only NATS user `sis`, keeps a durable pull consumer of its own on the MASTERY stream (its
position survives restarts), and acknowledges each change only after handling it, so a crash
redelivers what was not handled and a restart resumes where it stopped. SIGINT or SIGTERM stops
it cleanly: it stops fetching, finishes the batch in hand, flushes and closes the connection.

Each message is a CloudEvent in structured mode (`Content-Type: application/cloudevents+json`,
the whole envelope as the JSON body); docs/asyncapi.yaml describes every field. Replace
`handle_change` with your own: write to your SIS, in one transaction with the change's
`subject` and `streamversion`, and skip a number you already have (delivery is at least once).

Environment: NATS_URL (with the `sis` user's credentials), BUS_NAMESPACE (if the gradebook runs
with one), SIS_DURABLE (default `sis-subscriber`, the durable the `sis` user may drive).
"""

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

CONTENT_TYPE = "application/cloudevents+json"
CHANGE_TYPE = "org.mastery.mastery_changed."  # any version; fields are only ever added
BATCH = 50
FETCH_WAIT = 1.0  # seconds; also how soon a stop request is noticed
RETRY_DELAY = 5.0  # seconds before a change your handler failed on comes again


def handle_change(envelope: dict[str, Any]) -> None:
    """Your integration goes here. This one prints one JSON line per change."""
    change = envelope["data"]
    line = {
        "change": envelope["id"],
        "streamversion": envelope["streamversion"],
        "student": change["student_id"],
        "standard": change["standard_id"],
        "title": change.get("standard_title"),
        "case_guid": change.get("case_guid"),
        "from": [change.get("previous_level_label"), change.get("previous_score")],
        "to": [change["level_label"], change["score"]],
        "mastered": change["mastered"],
        "reason": change.get("reason", "evidence"),
    }
    print(json.dumps(line), flush=True)


def log(text: str) -> None:
    print(f"sis-subscriber: {text}", file=sys.stderr, flush=True)


def mastery_change(message: Msg) -> dict[str, Any]:
    """The CloudEvent in the message; ValueError if it is not a mastery change we can read."""
    content_type = (message.headers or {}).get("Content-Type")
    # Messages published before the gradebook sent Content-Type have none; same body.
    if content_type not in (None, CONTENT_TYPE):
        raise ValueError(f"unexpected Content-Type {content_type!r}")
    envelope = json.loads(message.data)
    if not isinstance(envelope, dict) or not str(envelope.get("type")).startswith(CHANGE_TYPE):
        raise ValueError("not a mastery change")
    return envelope


async def handle(message: Msg) -> None:
    """Handle one message, then acknowledge it. One that can never be read is terminated (not
    redelivered) and logged; one your handler fails on is redelivered a little later."""
    try:
        envelope = mastery_change(message)
    except ValueError as error:
        log(f"skipping message {message.metadata.sequence.stream}: {error}")
        await message.term()
        return
    try:
        handle_change(envelope)
    except Exception as error:  # noqa: BLE001 - your SIS was unavailable, say: try again later
        log(f"retrying message {message.metadata.sequence.stream} later: {error!r}")
        await message.nak(delay=RETRY_DELAY)
        return
    await message.ack_sync()  # confirmed: a restart will not deliver it again


async def bind(js: Any, stream: str, subject: str, durable: str, stop: asyncio.Event) -> Any:
    """Create (or find) the durable consumer and bind to it; wait while the stream is absent."""
    config = ConsumerConfig(
        durable_name=durable,
        filter_subject=subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=30,
        max_ack_pending=BATCH * 4,
    )
    while not stop.is_set():
        try:
            await js.add_consumer(stream, config)
            return await js.pull_subscribe_bind(durable, stream)
        except nats.js.errors.NotFoundError:
            log(f"stream {stream} does not exist yet; waiting")
            await asyncio.sleep(2)
    return None


async def run(stop: asyncio.Event) -> None:
    url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    namespace = os.environ.get("BUS_NAMESPACE", "")
    durable = os.environ.get("SIS_DURABLE", "sis-subscriber")
    stream = f"{namespace.upper()}_MASTERY" if namespace else "MASTERY"
    subject = f"{namespace}.mastery.*.changed" if namespace else "mastery.*.changed"
    user = urlsplit(url).username or ""
    # The `sis` user may only receive replies on its own inbox prefix.
    client = await nats.connect(
        url, name=durable, inbox_prefix=f"_INBOX.{user}" if user else "_INBOX"
    )
    try:
        subscription = await bind(client.jetstream(), stream, subject, durable, stop)
        log(f"listening on {subject} as durable {durable}")
        while subscription is not None and not stop.is_set():
            try:
                messages = await subscription.fetch(BATCH, timeout=FETCH_WAIT)
            except nats.errors.TimeoutError:
                continue
            for message in messages:  # the batch in hand is finished even after a stop
                await handle(message)
    finally:
        # Every ack was confirmed (`ack_sync`); flush sends the last naks and terms. Not
        # `drain()`: a pull subscription can hold the server's answer to a fetch that already
        # timed out, and drain then waits out its own timeout (30 s) on it.
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await client.flush(timeout=2)
        await client.close()
        log("stopped")


def main() -> None:
    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run(stop)

    asyncio.run(until_signalled())


if __name__ == "__main__":
    main()
