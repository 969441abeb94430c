"""The short-lived cache of verified keys in front of the API-key lookup: its TTL, and how a
change heard of (a revocation) takes a key out of it at once."""

from shared.platform.auth import KEY_CACHE_SECONDS, KeyCache
from shared.platform.tenancy import ApiKey, grants


def _key(n: object, tenant: str) -> ApiKey:
    return ApiKey(key_id=f"k{n}", tenant_id=tenant, scope="read", label="")


class _Keys:
    """The key table as the lookup sees it; counts lookups."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {"mk_a_secret": _key("a", "school-a")}
        self.lookups = 0

    async def look_up(self, presented: str) -> ApiKey | None:
        self.lookups += 1
        return self.keys.get(presented)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _tenant(cache: KeyCache, presented: str, keys: _Keys) -> str | None:
    key = await cache.key_for(presented, keys.look_up)
    return key.tenant_id if key else None


async def test_a_verified_key_is_looked_up_once_per_ttl() -> None:
    keys, clock = _Keys(), _Clock()
    cache = KeyCache(ttl_seconds=5.0, clock=clock)
    assert [await _tenant(cache, "mk_a_secret", keys) for _ in range(3)] == ["school-a"] * 3
    assert keys.lookups == 1
    clock.now += 5.0
    assert await _tenant(cache, "mk_a_secret", keys) == "school-a"
    assert keys.lookups == 2


async def test_a_revoked_key_unheard_of_works_at_most_until_its_entry_expires() -> None:
    keys, clock = _Keys(), _Clock()
    cache = KeyCache(ttl_seconds=5.0, clock=clock)
    assert await _tenant(cache, "mk_a_secret", keys) == "school-a"
    del keys.keys["mk_a_secret"]  # revoked, and no listener told the cache
    clock.now += 4.9
    assert await _tenant(cache, "mk_a_secret", keys) == "school-a"
    clock.now += 0.1
    assert await _tenant(cache, "mk_a_secret", keys) is None
    assert await _tenant(cache, "mk_a_secret", keys) is None
    assert keys.lookups == 3


async def test_a_key_forgotten_is_verified_again_on_its_next_use() -> None:
    keys, clock = _Keys(), _Clock()
    keys.keys["mk_b_secret"] = _key("b", "school-b")
    cache = KeyCache(ttl_seconds=5.0, clock=clock)
    for presented in ("mk_a_secret", "mk_b_secret"):
        await _tenant(cache, presented, keys)
    del keys.keys["mk_a_secret"]
    cache.forget("ka")
    assert await _tenant(cache, "mk_a_secret", keys) is None
    assert await _tenant(cache, "mk_b_secret", keys) == "school-b"  # still cached
    assert keys.lookups == 3
    cache.forget_all()
    assert len(cache) == 0


async def test_a_lookup_that_overlapped_a_change_is_not_kept() -> None:
    keys, clock = _Keys(), _Clock()
    cache = KeyCache(ttl_seconds=5.0, clock=clock)

    async def read_then_revoked(presented: str) -> ApiKey | None:
        found = await keys.look_up(presented)  # read before the revocation committed
        cache.forget("ka")  # the notification arrives while this lookup is in flight
        return found

    assert await cache.key_for("mk_a_secret", read_then_revoked) is not None
    assert len(cache) == 0


async def test_unknown_keys_are_never_cached_so_a_new_key_works_at_once() -> None:
    keys, clock = _Keys(), _Clock()
    cache = KeyCache(clock=clock)
    assert await _tenant(cache, "mk_b_secret", keys) is None
    keys.keys["mk_b_secret"] = _key("b", "school-b")  # issued now
    assert await _tenant(cache, "mk_b_secret", keys) == "school-b"
    assert await _tenant(cache, "mk_b_secret", keys) == "school-b"
    assert keys.lookups == 2


async def test_the_cache_keeps_at_most_max_entries_dropping_the_oldest() -> None:
    keys, clock = _Keys(), _Clock()
    keys.keys = {f"mk_{n}_secret": _key(n, f"school-{n}") for n in range(3)}
    cache = KeyCache(max_entries=2, clock=clock)
    for n in range(3):
        await _tenant(cache, f"mk_{n}_secret", keys)
    await _tenant(cache, "mk_2_secret", keys)
    await _tenant(cache, "mk_0_secret", keys)  # dropped: looked up again
    assert keys.lookups == 4


def test_the_revocation_window_without_a_listener_is_short() -> None:
    assert KEY_CACHE_SECONDS <= 5.0


def test_admin_grants_every_scope_and_the_others_only_their_own() -> None:
    assert [needed for needed in ("ingest", "read", "admin") if grants("admin", needed)] == [
        "ingest",
        "read",
        "admin",
    ]
    assert [needed for needed in ("ingest", "read", "admin") if grants("ingest", needed)] == [
        "ingest"
    ]
    assert [needed for needed in ("ingest", "read", "admin") if grants("read", needed)] == ["read"]


async def test_a_key_stays_known_past_its_ttl_until_a_lookup_refuses_it() -> None:
    keys, clock = _Keys(), _Clock()
    cache = KeyCache(ttl_seconds=5.0, clock=clock)
    assert not cache.known("mk_a_secret")
    await cache.key_for("mk_a_secret", keys.look_up)
    clock.now += 60.0  # stale: the next request looks it up again, the rate limit still counts it
    assert cache.known("mk_a_secret")
    assert not cache.known("mk_a_other-secret")
    del keys.keys["mk_a_secret"]
    await cache.key_for("mk_a_secret", keys.look_up)
    assert not cache.known("mk_a_secret")
    assert keys.lookups == 2


async def test_a_key_emptied_from_the_cache_stays_known_to_the_rate_limit() -> None:
    keys = _Keys()
    cache = KeyCache(ttl_seconds=5.0)
    await cache.key_for("mk_a_secret", keys.look_up)
    cache.forget_all()  # the listener reconnected: every entry is verified again on next use
    assert cache.known("mk_a_secret")
    cache.forget("ka")
    assert cache.known("mk_a_secret")
