"""Reading a real instance's /metrics into something a test can compare."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


async def scrape(client: httpx.AsyncClient, base_url: str) -> Samples:
    response = await client.get(f"{base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


class MissingSeries(AssertionError):
    """No sample matched: the metric is not exported (or not under these labels)."""


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of every sample named `name` whose labels include `labels`.

    Fails when no sample matches: a missing series is a broken exporter, not a zero, and reading it as 0
    would let "did it move?" assertions pass vacuously (0 > 0 fails, but 0 == 0 passes).
    """
    wanted = set(labels.items())
    matched = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    if not matched:
        raise MissingSeries(f"no series {name}{labels or ''} in the scrape")
    return sum(matched)


def baseline(samples: Samples, name: str, **labels: str) -> float:
    """`value()` for a snapshot taken *before* the traffic that creates the series: absent counts as 0.

    Only for the left side of a difference; the later snapshot must be read with `value()`.
    """
    try:
        return value(samples, name, **labels)
    except MissingSeries:
        return 0.0


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls), _ in samples.items() if n == name and label in dict(ls)}


def names(samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {n for n, _ in samples}
