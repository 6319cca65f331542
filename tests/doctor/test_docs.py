"""docs/doctor.md lists every registered check, under its layer, with what it looks at and why; and no
check that no longer exists."""

from __future__ import annotations

import re
from pathlib import Path

from cityscale.doctor.registry import all_checks

DOCS = Path(__file__).resolve().parents[2] / "docs" / "doctor.md"
ROW = re.compile(r"^\| `(?P<id>[a-z]+\.[a-z0-9-]+)` \| (?P<looks>.+?) \| (?P<why>[^|]+) \|$")


def documented_rows() -> dict[str, tuple[str, str, str]]:
    """check id -> (layer heading it is under, what it looks at, why it exists)."""
    rows, layer = {}, ""
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            layer = line.removeprefix("### ").strip()
        match = ROW.match(line)
        if match:
            rows[match["id"]] = (layer, match["looks"], match["why"].strip())
    return rows


def test_every_registered_check_is_documented_under_its_layer_with_what_and_why() -> None:
    rows = documented_rows()
    missing = [c.id for c in all_checks() if c.id not in rows]
    assert missing == []
    for registered in all_checks():
        layer, looks, why = rows[registered.id]
        assert layer == str(registered.layer), registered.id
        assert len(looks) > 20, registered.id
        assert len(why) > 20, registered.id


def test_the_docs_name_no_check_that_does_not_exist() -> None:
    assert set(documented_rows()) - {c.id for c in all_checks()} == set()


def test_each_incident_fault_is_traced_to_a_documented_check() -> None:
    """The issue's nine faults: each one's row says 'Incident fault N'."""
    text = " ".join(why for _, _, why in documented_rows().values())
    for fault in range(1, 10):
        assert f"**Incident fault {fault}**" in text, fault
