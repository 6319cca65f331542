"""Rates, durations, URLs and mixes: what they accept, and the precise error for what they refuse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cityscale.loadtest.mix import MixError, build_mix, parse_file, parse_flag
from cityscale.loadtest.target import TargetError, parse_target
from cityscale.loadtest.units import UnitError, parse_duration, parse_fraction, parse_rate

TARGET = parse_target("http://127.0.0.1:8080/base/")


@pytest.mark.parametrize(
    ("text", "per_second"), [("40000/min", 40000 / 60), ("700/s", 700), ("700", 700), ("3600/h", 1), ("1_000/s", 1000)]
)
def test_rates(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("2m", 120), ("500ms", 0.5), ("1.5", 1.5), ("1h", 3600)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_rate, "fast", "expected a number per unit"),
        (parse_rate, "10/day", "unknown unit"),
        (parse_rate, "0/s", "more than zero"),
        (parse_duration, "ten seconds", "expected a number with a unit"),
        (parse_fraction, "150%", "between 0 and 1"),
    ],
)
def test_bad_units_say_what_was_expected(parse: object, text: str, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse(text)  # type: ignore[operator]


def test_fraction_reads_percentages() -> None:
    assert parse_fraction("0.1%") == pytest.approx(0.001)
    assert parse_fraction("0") == 0


@pytest.mark.parametrize(
    ("url", "message"), [("https://x/", "only http://"), ("http:///x", "no host"), ("http://h:99999/", "port")]
)
def test_unusable_urls(url: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_target(url)


def test_templates_draw_ids_in_range_and_join_the_url_prefix() -> None:
    mix = build_mix([parse_flag("1 GET /api/cities/{id:5-7}?c={pick:FR|DE}", 1)], TARGET, None, seed=1)
    seen = set()
    for _ in range(200):
        request, path, body = mix.templates[0].build()
        match = re.fullmatch(r"/base/api/cities/([5-7])\?c=(FR|DE)", path)
        assert match, path
        seen.add((match.group(1), match.group(2)))
        assert request.startswith(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n".encode())
        assert body is None
    assert len(seen) == 6  # every id with every choice


def test_weights_shape_the_mix() -> None:
    specs = [parse_flag("90 GET /a", 1), parse_flag("10 GET /b", 2)]
    mix = build_mix(specs, TARGET, None, seed=7)
    choose = mix.chooser()
    share_a = sum(choose().label == "GET /a" for _ in range(10_000)) / 10_000
    assert share_a == pytest.approx(0.9, abs=0.02)


def test_writes_carry_the_token_and_a_sized_body() -> None:
    spec = parse_flag('1 POST /api/cities {"city_name": "Load {seq}", "country": "X"}', 1)
    template = build_mix([spec], TARGET, "s3cret", seed=1).templates[0]
    first, _, body1 = template.build()
    _, _, body2 = template.build()
    assert b"Authorization: Bearer s3cret\r\n" in first
    assert body1 == '{"city_name": "Load 1", "country": "X"}'
    assert body2 == '{"city_name": "Load 2", "country": "X"}'
    assert f"Content-Length: {len(body1)}\r\n\r\n{body1}".encode() in first


@pytest.mark.parametrize(
    ("flag", "token", "message"),
    [
        ("GET /a", None, "expected WEIGHT METHOD PATH"),
        ("x GET /a", None, "weight 'x' is not a number"),
        ("1 FETCH /a", None, "method 'FETCH'"),
        ("1 GET a", None, "must start with /"),
        ("1 HEAD /a", None, "method 'HEAD'"),
        ("1 GET /a/{id:9-1}", None, "LO <= HI"),
        ("1 GET /a/{nope}", None, "unknown placeholder"),
        ("1 DELETE /a/1", None, "needs API_TOKEN"),
        ("1 POST /a", "t", "needs a JSON body"),
    ],
)
def test_bad_templates_name_the_culprit(flag: str, token: str | None, message: str) -> None:
    with pytest.raises(MixError, match=message) as caught:
        build_mix([parse_flag(flag, 3)], TARGET, token)
    assert "--request #3" in str(caught.value)


def test_mix_file(tmp_path: Path) -> None:
    path = tmp_path / "mix.toml"
    path.write_text('[[request]]\nweight = 3\npath = "/x/{id:1-2}"\n\n[[request]]\nmethod = "DELETE"\npath = "/x/1"\n')
    mix = build_mix(parse_file(path), TARGET, "t")
    assert [(entry["request"], entry["share"]) for entry in mix.describe()] == [
        ("GET /x/{id:1-2}", 0.75),
        ("DELETE /x/1", 0.25),
    ]
    assert mix.has_writes


def test_bad_mix_file_says_where(tmp_path: Path) -> None:
    path = tmp_path / "mix.toml"
    path.write_text('[[request]]\npath = "/x"\nheaders = 1\n')
    with pytest.raises(MixError, match=r"request #1: unknown keys \['headers'\]"):
        parse_file(path)
    path.write_text("not toml [")
    with pytest.raises(MixError, match="not valid TOML"):
        parse_file(path)
