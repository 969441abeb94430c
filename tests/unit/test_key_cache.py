"""The short-lived key -> tenant cache in front of the API-key lookup, and its revocation window."""

from shared.platform.http import KEY_CACHE_SECONDS, TenantKeyCache


class _Keys:
    """The key table as the lookup sees it; counts lookups."""

    def __init__(self) -> None:
        self.tenants: dict[str, str] = {"mk_a_secret": "school-a"}
        self.lookups = 0

    async def look_up(self, presented: str) -> str | None:
        self.lookups += 1
        return self.tenants.get(presented)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_verified_key_is_looked_up_once_per_ttl() -> None:
    keys, clock = _Keys(), _Clock()
    cache = TenantKeyCache(ttl_seconds=5.0, clock=clock)
    assert [await cache.tenant_for("mk_a_secret", keys.look_up) for _ in range(3)] == [
        "school-a"
    ] * 3
    assert keys.lookups == 1
    clock.now += 5.0
    assert await cache.tenant_for("mk_a_secret", keys.look_up) == "school-a"
    assert keys.lookups == 2


async def test_a_revoked_key_works_at_most_until_its_entry_expires() -> None:
    keys, clock = _Keys(), _Clock()
    cache = TenantKeyCache(ttl_seconds=5.0, clock=clock)
    assert await cache.tenant_for("mk_a_secret", keys.look_up) == "school-a"
    del keys.tenants["mk_a_secret"]  # revoked
    clock.now += 4.9
    assert await cache.tenant_for("mk_a_secret", keys.look_up) == "school-a"
    clock.now += 0.1
    assert await cache.tenant_for("mk_a_secret", keys.look_up) is None
    assert await cache.tenant_for("mk_a_secret", keys.look_up) is None
    assert keys.lookups == 3


async def test_unknown_keys_are_never_cached_so_a_new_key_works_at_once() -> None:
    keys, clock = _Keys(), _Clock()
    cache = TenantKeyCache(clock=clock)
    assert await cache.tenant_for("mk_b_secret", keys.look_up) is None
    keys.tenants["mk_b_secret"] = "school-b"  # issued now
    assert await cache.tenant_for("mk_b_secret", keys.look_up) == "school-b"
    assert await cache.tenant_for("mk_b_secret", keys.look_up) == "school-b"
    assert keys.lookups == 2


async def test_the_cache_keeps_at_most_max_entries_dropping_the_oldest() -> None:
    keys, clock = _Keys(), _Clock()
    keys.tenants = {f"mk_{n}_secret": f"school-{n}" for n in range(3)}
    cache = TenantKeyCache(max_entries=2, clock=clock)
    for n in range(3):
        await cache.tenant_for(f"mk_{n}_secret", keys.look_up)
    await cache.tenant_for("mk_2_secret", keys.look_up)
    await cache.tenant_for("mk_0_secret", keys.look_up)  # dropped: looked up again
    assert keys.lookups == 4


def test_the_revocation_window_is_short() -> None:
    assert KEY_CACHE_SECONDS <= 5.0


async def test_a_key_stays_known_past_its_ttl_until_a_lookup_refuses_it() -> None:
    keys, clock = _Keys(), _Clock()
    cache = TenantKeyCache(ttl_seconds=5.0, clock=clock)
    assert not cache.known("mk_a_secret")
    await cache.tenant_for("mk_a_secret", keys.look_up)
    clock.now += 60.0  # stale: the next request looks it up again, the rate limit still counts it
    assert cache.known("mk_a_secret")
    assert not cache.known("mk_a_other-secret")
    del keys.tenants["mk_a_secret"]
    await cache.tenant_for("mk_a_secret", keys.look_up)
    assert not cache.known("mk_a_secret")
    assert keys.lookups == 2
