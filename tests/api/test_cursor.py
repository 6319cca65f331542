"""The `cursor` of GET /api/cities is opaque and minted by the server: anything else is a precise 400.

A cursor is the only list parameter a client does not type itself, so it is where a tampered, truncated
or copied-wrong value arrives; each must be refused with the same problem, never a 500 or a wrong page.
"""

from __future__ import annotations

import base64
import re

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityscale.api.params import MAX_ID, _cursor_check, decode_cursor, encode_cursor
from cityscale.api.problems import Problem


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


VALID = encode_cursor(1000)
VALID_CHECK = base64.urlsafe_b64decode(VALID + "=" * (-len(VALID) % 4)).split(b":")[2]
HOSTILE_CURSORS = {
    "empty": "",
    "blank": "   ",
    "truncated": VALID[:-2],
    "one char": VALID[:1],
    "not base64": "not/a+cursor!",
    "percent garbage": "%%%",
    "padding only": "====",
    "bare number (wrong type)": "1000",
    "negative number": "-1",
    "json null": "null",
    "json object": '{"after": 1000}',
    "raw, not encoded": "c1:1000",
    "previous format": b64(b"c1:1000"),
    "other version": b64(b"c3:1000:" + VALID_CHECK),
    "no check": b64(b"c2:1000"),
    "wrong check": b64(b"c2:1000:000000"),
    "id edited, check kept": b64(b"c2:1001:" + VALID_CHECK),
    "leading zero": b64(b"c2:01000:" + VALID_CHECK),
    "padded": VALID + "=" * (-len(VALID) % 4 or 4),
    "one char flipped": VALID[:-3] + ("A" if VALID[-3] != "A" else "B") + VALID[-2:],
    "no prefix": b64(b"1000"),
    "tampered negative": b64(b"c2:-5:" + VALID_CHECK),
    "tampered text": b64(b"c2:abc:" + VALID_CHECK),
    "tampered float": b64(b"c2:1.5:" + VALID_CHECK),
    "tampered space": b64(b"c2: 1000:" + VALID_CHECK),
    "tampered trailing NUL": b64(b"c2:1000:" + VALID_CHECK + b"\x00"),
    "tampered underscore digits": b64(b"c2:1_000:" + VALID_CHECK),
    "beyond bigint": b64(b"c2:" + b"9" * 25 + b":" + VALID_CHECK),
    "just past bigint": b64(f"c2:{MAX_ID + 1}:{_cursor_check(MAX_ID + 1)}".encode()),
    "non-ascii digits": b64("c2:\u0663:".encode() + VALID_CHECK),
    "binary": b64(b"\xff\xfe\x00\x01"),
    "sql injection": b64(b"c2:1; DROP TABLE cities:" + VALID_CHECK),
    "non-ascii": "curs\u00f6r",
    "emoji": "\U0001f4a5",
    "very long": "A" * 5000,
}


@pytest.mark.parametrize("cursor", HOSTILE_CURSORS.values(), ids=HOSTILE_CURSORS.keys())
def test_hostile_cursor_is_a_precise_400(api: httpx.Client, cursor: str) -> None:
    response = api.get("/api/cities", params={"cursor": cursor, "country": "FR"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:cityscale:problem:invalid-cursor"
    assert problem["status"] == 400
    assert problem["detail"].startswith("cursor is not valid")


def test_the_servers_own_cursor_works_and_resumes_after_its_id(api: httpx.Client) -> None:
    first = api.get("/api/cities", params={"limit": 3})
    match = re.search(r"cursor=([^&>]+)", first.headers["link"])
    assert match is not None
    second = api.get("/api/cities", params={"limit": 3, "cursor": match.group(1)})
    assert second.status_code == 200
    assert second.json()[0]["id"] > first.json()[-1]["id"]
    resumed = api.get("/api/cities", params={"limit": 1, "cursor": VALID}).json()
    assert resumed[0]["id"] > 1000


def test_a_cursor_given_twice_is_refused(api: httpx.Client) -> None:
    response = api.get(f"/api/cities?cursor={VALID}&cursor={VALID}")
    assert response.status_code == 400
    assert "more than once" in response.json()["detail"]


@given(after_id=st.integers(min_value=0, max_value=MAX_ID))
def test_every_minted_cursor_decodes_to_its_id(after_id: int) -> None:
    assert decode_cursor(encode_cursor(after_id)) == after_id


@given(after_id=st.integers(min_value=0, max_value=MAX_ID), cut=st.integers(min_value=1, max_value=8))
def test_no_truncated_cursor_decodes(after_id: int, cut: int) -> None:
    with pytest.raises(Problem):
        decode_cursor(encode_cursor(after_id)[:-cut])
