"""What the app does once per process at start-up, before it serves anything."""

from __future__ import annotations

import gc

from cityscale.api.app import create_app
from cityscale.settings import Settings


async def test_startup_hides_its_long_lived_objects_from_the_garbage_collector(database_url: str) -> None:
    # A full collection over the imported modules, the app and its pools took 25-35 ms here: frozen,
    # they are never scanned again, and a collection during a request stays short.
    app = create_app(Settings(DATABASE_URL=database_url))
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
