"""Which partition of the ATTEMPTS stream a student's events travel on.

Part of the published wire contract: the attempts relay puts each event keyed by a student on
`attempts.<tenant>.p<k>.<kind>` with `k = partition_of(tenant, student, partitions)`, and a reader
that wants one student's events in order reads one partition. Student ids are opaque and may hold
'.', so they cannot be subject tokens themselves: the publisher computes the partition.

The hash is BLAKE2b over the JSON array `[tenant_id, student_id]` (no separator can be forged by
an id), its first 8 bytes read big-endian, modulo the partition count. Never Python's `hash()`,
which is salted per process. The count is fixed for a stream's life (docs/architecture.md says
how to change it: republish into a new namespace).
"""

import hashlib

import msgspec

DEFAULT_PARTITIONS = 8
# The most a deployment may configure: the NATS permissions name each partition's durable.
MAX_PARTITIONS = 16

_encode = msgspec.json.Encoder().encode


def partition_of(tenant_id: str, student_id: str, partitions: int) -> int:
    """The partition, in `range(partitions)`, of a student's events; the same in every process."""
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"partitions must be from 1 to {MAX_PARTITIONS}, not {partitions}")
    digest = hashlib.blake2b(_encode([tenant_id, student_id]), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def partition_token(partition: int) -> str:
    """The subject token of a partition: `p0`, `p1`, ... (never a tenant-wide kind's name)."""
    return f"p{partition}"
