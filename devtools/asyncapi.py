"""The AsyncAPI document of the bus, generated from the event Structs.

`python -m devtools.asyncapi > docs/asyncapi.yaml` writes it; a test keeps the checked-in file
equal to this rendering, and another checks messages a real relay published against it. The
schemas are msgspec's (`msgspec.json.schema_components`) of the envelopes as they are encoded,
with what the encoders guarantee beyond the Struct types written in: the CloudEvents `type` of
each message, `specversion`, `datacontenttype` and a `streamversion` that is never null.
"""

import sys
import typing
from datetime import datetime
from typing import Any

import msgspec
import yaml

from shared.contract.cloudevents import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    TYPE_PREFIX,
    CloudEvent,
)
from shared.contract.events.attempts import AnyAttemptEvent
from shared.contract.events.mastery import AnyMasteryEvent
from shared.contract.events.roster import RosterChange
from shared.contract.events.standards import AnyStandardEvent
from shared.contract.trace_context import TRACEPARENT_PATTERN

ASYNCAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{name}"
MSG_ID_HEADER = "Nats-Msg-Id"  # as shared.platform.outbox sends it (devtools may not import it)
DEADLETTER_HEADERS = ("Deadletter-Reason", "Deadletter-Subject")

INFO = {
    "title": "Mastery gradebook events",
    "version": "1.0.0",
    "description": (
        "Events on NATS JetStream as CloudEvents 1.0 in structured mode of the NATS protocol "
        f"binding: the body is the whole envelope as JSON and the header `{CONTENT_TYPE_HEADER}:"
        f" {CONTENT_TYPE}` says so (no `ce-` headers; messages published before the header was"
        " sent have none, and their bodies are the same). Every message also carries"
        f" `{MSG_ID_HEADER}` = the CloudEvents id, which JetStream deduplicates within 120 s;"
        " a consumer should drop ids it has seen. With BUS_NAMESPACE set, every subject is"
        ' prefixed by "<namespace>." and every stream name by "<NAMESPACE>_". Events are'
        " versioned by their tag (`attempt_recorded.v2`): fields are only ever added under a"
        " tag, with defaults, so a consumer must ignore fields it does not know.\n"
        "Generated from the event Structs by `python -m devtools.asyncapi`; do not edit."
    ),
}

ATTEMPTS_CHANNEL = {
    "address": "attempts.{tenant}.{partition}.{kind}",
    "description": (
        "Stream ATTEMPTS, the events keyed by a student: kind = recorded | voided | rescored |"
        " corrective_work. Each student's events travel on one partition, `p<k>` with k ="
        " BLAKE2b-64 (big-endian) of the JSON array `[tenant_id, student_id]` mod the"
        " deployment's BUS_PROJECTOR_PARTITIONS (default 8; `shared/contract/partitions.py`),"
        " fixed for the stream's life. Order: within a partition a student's events come in"
        " commit order; across partitions, and between a student's events and the tenant's"
        " standards and policies, nothing is promised on the bus: the mastery projector takes"
        " its order from the attempts log in PostgreSQL (a standard is applied before the"
        " attempts recorded against it). A student's events form one stream (`subject`"
        " `tenant/student/standard`, `streamversion` 1, 2, ...). Consumers decode a tagged"
        " union and upcast at the edge: a v1 event stays valid forever (attempt_recorded.v1"
        ' upcasts to v2 with status "scored"). Attempts published before partitioning came on'
        " `attempts.{tenant}.{kind}`."
    ),
    "parameters": {
        "tenant": {"description": "Tenant id (lower-case letters, digits, '-' and '_')."},
        "partition": {"description": "p0, p1, ... the student's partition, as above."},
        "kind": {"description": "The event kind, as listed above."},
    },
}

STANDARDS_CHANNEL = {
    "address": "attempts.{tenant}.{kind}",
    "description": (
        "Stream ATTEMPTS, the tenant-wide events: kind = standard_defined | policy_set, in"
        " commit order. A standard's events form the stream `tenant//standards/<id>`, the"
        " tenant policy's `tenant//policy`. Three tokens: `attempts.*.*` matches these and no"
        " partition's subject."
    ),
    "parameters": {
        "tenant": {"description": "Tenant id (lower-case letters, digits, '-' and '_')."},
        "kind": {"description": "The event kind, as listed above."},
    },
}

MASTERY_CHANNEL = {
    "address": "mastery.{tenant}.changed",
    "description": (
        "Stream MASTERY. Emitted only when a student's level or mastered flag on a standard"
        " changes (a score moving inside a level is not a change), with the standing before and"
        " after, the standard's title and CASE GUID, and the cause (`reason`, `caused_by_*`)."
        " `subject` is `tenant/student/standard` and `streamversion` the change's number among"
        " that student-standard's changes (1, 2, ...): a number already seen is a duplicate, a"
        " skipped one a change not received yet. SIS integrations subscribe here, as the NATS"
        " user `sis` with the durable `sis-subscriber` (see examples/sis_subscriber.py)."
    ),
    "parameters": {"tenant": {"description": "Tenant id."}},
}

ROSTERS_CHANNEL = {
    "address": "rosters.{tenant}.changed",
    "description": (
        "Stream ROSTERS: the mastery service's roster log (a OneRoster import or the class API),"
        " in commit order. A `*_defined` event carries the whole entity (the newest is the"
        " truth), `roster_removed` takes one away. `subject` is `tenant/roster` and"
        " `streamversion` the event's number in the tenant's roster log (1, 2, ...): an event"
        " numbered at or below one already applied to that entity is old news. A stream of its"
        " own, not MASTERY, since it carries people's names and addresses: notify reads it"
        " (durable `notify-rosters`), the `sis` user cannot."
    ),
    "parameters": {"tenant": {"description": "Tenant id."}},
}

DEADLETTER_CHANNEL = {
    "address": "deadletter.{consumer}",
    "description": (
        "Stream DEADLETTER. Messages a consumer could not process, or outbox rows the bus"
        " refused, with their original body unchanged (empty for a refused row over 64 KiB) and"
        " its `Content-Type` when it had one, and headers Deadletter-Reason (undecodable, a"
        " tenant mismatch between the subject and the event, a handler failure of its own, still"
        " waiting after N deliveries, or the delivery limit reached), Deadletter-Subject,"
        " Deadletter-Stream-Sequence or Deadletter-Msg-Id, and Nats-Msg-Id (a message is parked"
        " once). Nothing on ATTEMPTS is ever applied from the message itself: the mastery"
        " projector treats it as a doorbell and reads the stream from the attempts log."
    ),
    "parameters": {
        "consumer": {
            "description": (
                "mastery-projector, notify-planner, notify-rosters, attempts-relay or"
                " mastery-relay."
            )
        }
    },
}


def _events(union: object) -> list[type[msgspec.Struct]]:
    return list(typing.get_args(union)) or [union]


CHANNEL_EVENTS: dict[str, list[type[msgspec.Struct]]] = {
    "attempts": _events(AnyAttemptEvent),
    "standards": _events(AnyStandardEvent),
    "masteryChanged": _events(AnyMasteryEvent),
    "rosters": _events(RosterChange),
}


def _tag(event: type[msgspec.Struct]) -> str:
    tag = event.__struct_config__.tag
    assert isinstance(tag, str), f"{event.__name__} has no string tag"
    return tag


def _struct_classes(roots: list[type[msgspec.Struct]]) -> dict[str, type[msgspec.Struct]]:
    """Every Struct class reachable from `roots` through field types, by name."""
    found: dict[str, type[msgspec.Struct]] = {}
    pending: list[object] = list(roots)
    while pending:
        hint = pending.pop()
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            if hint.__name__ not in found:
                found[hint.__name__] = hint
                pending += typing.get_type_hints(hint).values()
        else:
            pending += typing.get_args(hint)
    return found


def _with_date_times(schema: dict[str, Any], struct: type[msgspec.Struct]) -> dict[str, Any]:
    """msgspec says only `string` for a datetime; every one here is RFC 3339, with an offset."""
    properties = dict(schema.get("properties", {}))
    for name, hint in typing.get_type_hints(struct).items():
        if name in properties and datetime in (hint, *typing.get_args(hint)):
            field = properties[name]
            if "anyOf" in field:
                branches = [
                    {**b, "format": "date-time"} if b.get("type") == "string" else b
                    for b in field["anyOf"]
                ]
                properties[name] = {**field, "anyOf": branches}
            else:
                properties[name] = {**field, "format": "date-time"}
    return {**schema, "properties": properties}


def _published_envelope(schema: dict[str, Any], event: type[msgspec.Struct]) -> dict[str, Any]:
    """What the encoders add to the Struct's schema: fixed attributes, a numbered version."""
    properties = dict(schema["properties"])
    properties["type"] = {"const": TYPE_PREFIX + _tag(event)}
    properties["specversion"] = {"const": "1.0"}
    properties["datacontenttype"] = {"const": "application/json"}
    properties["subject"] = {"type": "string", "description": "The stream id."}
    properties["streamversion"] = {
        "type": "integer",
        "minimum": 1,
        "description": "The event's version in the stream its `subject` names: 1, 2, ...",
    }
    properties["traceparent"] = {
        "type": "string",
        "pattern": TRACEPARENT_PATTERN,
        "description": "Optional extension attribute (CloudEvents distributed tracing): the W3C"
        " `traceparent` of the request that caused the event, carried on to what it causes. A"
        " consumer drops one that is malformed and handles the event as if it had none.",
    }
    required = [*schema["required"], "streamversion", "specversion", "datacontenttype"]
    return {**schema, "properties": properties, "required": required}


def _schemas() -> dict[str, Any]:
    events = [event for each in CHANNEL_EVENTS.values() for event in each]
    refs, components = msgspec.json.schema_components(
        [CloudEvent[event] for event in events],  # type: ignore[valid-type]
        ref_template=SCHEMA_REF,
    )
    for name, struct in _struct_classes(events).items():
        if name in components:
            components[name] = _with_date_times(components[name], struct)
    for ref, event in zip(refs, events, strict=True):
        name = ref["$ref"].rpartition("/")[2]
        envelope = _published_envelope(components[name], event)
        components[name] = _with_date_times(envelope, CloudEvent)
    # As JSON has it: a tuple default (`()`) is a list, as the YAML reads back.
    components = msgspec.json.decode(msgspec.json.encode(components))
    return {
        "cloudEventHeaders": {
            "type": "object",
            "required": [CONTENT_TYPE_HEADER, MSG_ID_HEADER],
            "properties": {
                CONTENT_TYPE_HEADER: {"const": CONTENT_TYPE},
                MSG_ID_HEADER: {"type": "string", "description": "The CloudEvents id."},
                "Nats-Batch-Id": {
                    "type": "string",
                    "description": "Present on a message its relay published in a JetStream "
                    "atomic batch (stored with the others of the batch, or not at all); "
                    "carries nothing a consumer needs.",
                },
                "Nats-Batch-Sequence": {
                    "type": "string",
                    "description": "The message's place in its atomic batch, from 1.",
                },
                "Nats-Batch-Commit": {
                    "type": "string",
                    "description": "On the last message of an atomic batch.",
                },
            },
        },
        "deadLetterHeaders": {
            "type": "object",
            "required": [*DEADLETTER_HEADERS, MSG_ID_HEADER],
            "properties": {name: {"type": "string"} for name in DEADLETTER_HEADERS}
            | {CONTENT_TYPE_HEADER: {"const": CONTENT_TYPE}},
        },
        **dict(sorted(components.items())),
    }


def envelope_schema_name(event: type[msgspec.Struct]) -> str:
    """The component name msgspec gives the envelope of `event`."""
    [ref], _ = msgspec.json.schema_components(
        [CloudEvent[event]],  # type: ignore[valid-type]
        ref_template=SCHEMA_REF,
    )
    return str(ref["$ref"]).rpartition("/")[2]


def _message(event: type[msgspec.Struct]) -> dict[str, Any]:
    return {
        "name": TYPE_PREFIX + _tag(event),
        "title": event.__name__,
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": SCHEMA_REF.format(name="cloudEventHeaders")},
        "payload": {"$ref": SCHEMA_REF.format(name=envelope_schema_name(event))},
    }


DEADLETTER_MESSAGE = {
    "name": "deadLettered",
    "title": "A parked message",
    "contentType": CONTENT_TYPE,
    "headers": {"$ref": SCHEMA_REF.format(name="deadLetterHeaders")},
    "payload": {"description": "The original message's body, unchanged."},
}


def _channel(base: dict[str, Any], events: list[type[msgspec.Struct]]) -> dict[str, Any]:
    messages = {_tag(event): {"$ref": f"#/components/messages/{_tag(event)}"} for event in events}
    return {**base, "messages": messages}


def document() -> dict[str, Any]:
    every = [event for each in CHANNEL_EVENTS.values() for event in each]
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": INFO,
        "defaultContentType": CONTENT_TYPE,
        "servers": {"local": {"host": "127.0.0.1:4222", "protocol": "nats"}},
        "channels": {
            "attempts": _channel(ATTEMPTS_CHANNEL, CHANNEL_EVENTS["attempts"]),
            "standards": _channel(STANDARDS_CHANNEL, CHANNEL_EVENTS["standards"]),
            "masteryChanged": _channel(MASTERY_CHANNEL, CHANNEL_EVENTS["masteryChanged"]),
            "rosters": _channel(ROSTERS_CHANNEL, CHANNEL_EVENTS["rosters"]),
            "deadLetter": {
                **DEADLETTER_CHANNEL,
                "messages": {"deadLettered": {"$ref": "#/components/messages/deadLettered"}},
            },
        },
        "operations": {
            name: {"action": "send", "channel": {"$ref": f"#/channels/{channel}"}}
            for name, channel in (
                ("sendAttemptEvents", "attempts"),
                ("sendStandardEvents", "standards"),
                ("sendMasteryChanged", "masteryChanged"),
                ("sendRosterChanges", "rosters"),
                ("sendDeadLetters", "deadLetter"),
            )
        },
        "components": {
            "schemas": _schemas(),
            "messages": {_tag(event): _message(event) for event in every}
            | {"deadLettered": DEADLETTER_MESSAGE},
        },
    }


def render() -> str:
    header = "# Generated by `python -m devtools.asyncapi > docs/asyncapi.yaml`; do not edit.\n"
    body = yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
    return header + body


if __name__ == "__main__":
    sys.stdout.write(render())
