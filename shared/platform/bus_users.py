"""Who may do what on the bus: one NATS user per service and the subjects each may use.

This table is the one definition of the services' NATS permissions (and of the `sis` user's,
the read-only reader an SIS integration connects as). The dev stack and the test
servers render their nats-server configuration from it (`devtools.nats_auth`), and so does
`deploy/nats-server.conf`, which a test keeps equal to the rendering.

A service may publish the events it relays and park what its consumer gives up on, declare the
streams it writes to, and drive only its own durable consumer. Replies come to an inbox of its
own (`_INBOX.<user>.`, see `shared.platform.bus.connect`): a shared `_INBOX.>` would let any
service read the messages JetStream delivers to another's pull requests.
"""

from dataclasses import dataclass, field

from shared.contract.partitions import MAX_PARTITIONS, partition_token
from shared.platform.bus import BusNames, inbox_prefix

PROJECTOR_DURABLE = "mastery-projector"
PLANNER_DURABLE = "notify-planner"
# Notify's copy of the roster's people and guardian links.
ROSTER_DURABLE = "notify-rosters"
# The durable of an SIS integration (`examples/sis_subscriber.py`): read-only, on MASTERY.
SIS_DURABLE = "sis-subscriber"

# The subject families; each has one stream. Rosters are a stream of their own, not subjects on
# MASTERY: they carry people's names and addresses, and the `sis` user may read all of MASTERY.
ATTEMPTS, MASTERY, ROSTERS, DEADLETTER = "attempts", "mastery", "rosters", "deadletter"


def stream_of(names: BusNames, family: str) -> str:
    return {
        ATTEMPTS: names.attempts_stream,
        MASTERY: names.mastery_stream,
        ROSTERS: names.rosters_stream,
        DEADLETTER: names.deadletter_stream,
    }[family]


def _published(names: BusNames, family: str) -> tuple[str, ...]:
    return {
        # Tenant-wide events, and each student's on the student's partition.
        ATTEMPTS: (names.all_attempts(), names.partition_attempts_of_any()),
        MASTERY: (names.all_mastery_changed(),),
        ROSTERS: (names.all_rosters(),),
    }[family]


@dataclass(frozen=True, slots=True)
class Consumes:
    family: str
    durable: str
    # Whether it parks what it gives up on (`deadletter.<durable>`); a read-only user does not.
    parks: bool = True


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BusUser:
    name: str
    publishes: tuple[str, ...] = ()  # the families its outbox relay publishes
    consumes: tuple[Consumes, ...] = field(default=())

    @property
    def relay_deadletter(self) -> str:
        """The dead-letter name its outbox relay parks refused rows under."""
        return f"{self.name}-relay"

    def declares(self, names: BusNames) -> tuple[str, ...]:
        """The streams it creates or updates: those it writes to, dead-letters included (its
        relay parks what the bus refuses, its consumer what it gives up on)."""
        parks = self.publishes or any(consumes.parks for consumes in self.consumes)
        families = [*self.publishes, *([DEADLETTER] if parks else [])]
        return tuple(stream_of(names, family) for family in families)

    def permissions(self, names: BusNames) -> Permissions:
        publish = [subject for family in self.publishes for subject in _published(names, family)]
        if self.publishes:
            publish.append(names.deadletter(self.relay_deadletter))
        for stream in self.declares(names):
            publish += [f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}"]
        subscribe = [f"{inbox_prefix(self.name)}.>"]
        for consumes in self.consumes:
            publish += _consumer_publishes(names, consumes)
            stream = stream_of(names, consumes.family)
            if consumes.parks:
                subscribe.append(
                    f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumes.durable}"
                )
        return Permissions(tuple(publish), tuple(subscribe))


def _consumer_publishes(names: BusNames, consumes: Consumes) -> list[str]:
    """Create or update, bind, fetch from and ack its durable; if it parks, read a message of
    its stream back to park it (`DeliveryLimitWatch`) and publish to its own dead-letter subject."""
    stream, durable = stream_of(names, consumes.family), consumes.durable
    driving = [
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]
    if not consumes.parks:
        return driving
    return [*driving, f"$JS.API.STREAM.MSG.GET.{stream}", names.deadletter(durable)]


def partition_durable(partition: int) -> str:
    """The projector's durable of one partition of the attempts (`mastery-projector-p3`)."""
    return f"{PROJECTOR_DURABLE}-{partition_token(partition)}"


ATTEMPTS_USER = BusUser("attempts", publishes=(ATTEMPTS,))
# The tenant-wide durable, and one per partition up to the most a deployment may configure: a
# durable's name is one subject token, which a permission cannot match by prefix.
MASTERY_USER = BusUser(
    "mastery",
    publishes=(MASTERY, ROSTERS),
    consumes=(
        Consumes(ATTEMPTS, PROJECTOR_DURABLE),
        *(Consumes(ATTEMPTS, partition_durable(k)) for k in range(MAX_PARTITIONS)),
    ),
)
NOTIFY_USER = BusUser(
    "notify",
    consumes=(Consumes(MASTERY, PLANNER_DURABLE), Consumes(ROSTERS, ROSTER_DURABLE)),
)
# An SIS integration reads mastery changes through its own durable and may do nothing else: no
# publishing, no stream declared, no other consumer, no message read by sequence.
SIS_USER = BusUser("sis", consumes=(Consumes(MASTERY, SIS_DURABLE, parks=False),))
BUS_USERS: dict[str, BusUser] = {
    user.name: user for user in (ATTEMPTS_USER, MASTERY_USER, NOTIFY_USER, SIS_USER)
}


def permissions_for(user: BusUser, namespaces: tuple[str, ...]) -> Permissions:
    """The user's permissions in each namespace, together (order kept, duplicates dropped)."""
    every = [user.permissions(BusNames(namespace)) for namespace in namespaces]
    publish = dict.fromkeys(subject for each in every for subject in each.publish)
    subscribe = dict.fromkeys(subject for each in every for subject in each.subscribe)
    return Permissions(tuple(publish), tuple(subscribe))
