"""The watermark rule: W passes a position only when every event up to it is applied and no
transaction that could hold a smaller position can still commit."""

from services.mastery.core.read_positions import LoggedEvent, Look, Pending, progress_of


def look(
    *events: tuple[int, bool],
    watermark: int = 0,
    pending: Pending | None = None,
    oldest_running: int = 100,
    limit: int = 1_000,
) -> Look:
    return Look(
        watermark=watermark,
        pending=pending,
        oldest_running=oldest_running,
        next_xid=200,
        newest=max((position for position, _ in events), default=watermark),
        events=[LoggedEvent(position, applied) for position, applied in events],
        walk_limit=limit,
    )


def test_without_a_proved_claim_w_stays_and_a_claim_is_made() -> None:
    progress = progress_of(look((5, True), (9, True)), None)
    assert progress.watermark == 0
    assert progress.pending == Pending(position=9, horizon=200)


def test_a_claim_is_proved_once_every_transaction_below_its_horizon_has_ended() -> None:
    claim = Pending(position=9, horizon=150)
    assert progress_of(look((5, True), (9, True), pending=claim), None).watermark == 0
    proved = progress_of(look((5, True), (9, True), pending=claim, oldest_running=150), None)
    assert proved.watermark == 9
    assert proved.pending == Pending(position=9, horizon=200)  # the next claim


def test_w_stops_before_the_first_event_not_applied() -> None:
    claim = Pending(position=20, horizon=10)
    progress = progress_of(look((5, True), (9, False), (12, True), pending=claim), 12)
    assert progress.watermark == 8
    assert not progress.reached


def test_an_unfinished_claim_is_kept_rather_than_replaced() -> None:
    claim = Pending(position=9, horizon=150)
    assert progress_of(look((5, True), (30, True), pending=claim), None).pending == claim


def test_a_visible_write_with_everything_before_it_applied_is_reached_above_w() -> None:
    progress = progress_of(look((5, True), (9, True), watermark=3), 9)
    assert (progress.watermark, progress.reached) == (3, True)
    assert not progress_of(look((5, True), (9, True), watermark=3), 10).reached
    assert progress_of(look(watermark=7), 6).reached


def test_a_walk_cut_short_claims_no_more_than_it_walked() -> None:
    claim = Pending(position=50, horizon=10)
    progress = progress_of(look((5, True), (9, True), pending=claim, limit=2), 40)
    assert (progress.watermark, progress.reached) == (9, False)
