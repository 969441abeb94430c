"""How every service process sets up its garbage collector before serving."""

import gc
from collections.abc import Iterator

import pytest

from shared.platform.service import YOUNG_COLLECTION_EVERY, tune_garbage_collector


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
def test_startup_objects_are_frozen_and_the_young_generation_is_collected_less_often() -> None:
    frozen_before = gc.get_freeze_count()

    tune_garbage_collector()

    assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_EVERY > 700
