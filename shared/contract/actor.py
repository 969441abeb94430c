"""Who made a write: the API key whose bearer asked for it.

Every write event carries one (`actor`), optional so that events written before it was added still
decode (they read as `None`). The label is copied from the key when the event is written, so the
log still names the caller after the key is revoked or relabelled.
"""

import msgspec


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    label: str = ""
