"""Each instance's record of the writes it heard of: refuses older data, and stays bounded in size and time."""

from __future__ import annotations

import time

from cityscale.cache.invalidation import LocalTombstones


def test_the_newest_write_per_item_and_for_lists_is_the_floor() -> None:
    tombstones = LocalTombstones(60)
    tombstones.record("item:1", 500)
    tombstones.record("item:1", 300)  # an older write heard later does not lower the floor
    tombstones.record("item:2", 400)
    assert tombstones.floor("item:1") == 500
    assert tombstones.floor("item:2") == 400
    assert tombstones.floor("item:3") == 0
    assert tombstones.floor("list:7:abc") == 500  # every write changes lists


def test_it_forgets_after_keep_for_and_beyond_max_items() -> None:
    tombstones = LocalTombstones(0.05, max_items=3)
    for city_id in range(5):
        tombstones.record(f"item:{city_id}", 100 + city_id)
    assert [tombstones.floor(f"item:{city_id}") for city_id in range(5)] == [0, 0, 102, 103, 104]
    time.sleep(0.1)
    assert tombstones.floor("item:4") == 0
    tombstones.record("item:9", 1)  # recording prunes what expired
    assert len(tombstones._items) == 1
