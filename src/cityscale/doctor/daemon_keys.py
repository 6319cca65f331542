"""Which top-level `daemon.json` keys each Docker Engine version accepts, and what dockerd does with them.

The table (`data/daemon_json_keys.tsv`) was measured by feeding every candidate key through dockerd's
own `config.MergeDaemonConfigurations` in Engine v27.5.1, v28.5.2 and v29.7.2 (research/doctor.md B2).
"""

from __future__ import annotations

import difflib
import enum
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

ENGINE_VERSIONS = ("27.5.1", "28.5.2", "29.7.2")

# Object-valued keys dockerd keeps whole; any other object value is flattened into top-level keys.
FLAT_OPTIONS = frozenset(
    {"cluster-store-opts", "default-network-opts", "log-opts", "runtimes", "default-ulimits", "features", "builder"}
)
FLAT_OPTIONS_V29 = FLAT_OPTIONS | {"nri-opts"}

# Singular flag spellings dockerd accepts and then ignores; the JSON key that works is the plural.
PLURAL_OF = {
    "label": "labels", "host": "hosts", "dns-opt": "dns-opts", "exec-opt": "exec-opts", "storage-opt": "storage-opts",
    "log-opt": "log-opts", "registry-mirror": "registry-mirrors", "insecure-registry": "insecure-registries",
    "authorization-plugin": "authorization-plugins", "cdi-spec-dir": "cdi-spec-dirs",
    "default-address-pool": "default-address-pools", "default-network-opt": "default-network-opts",
    "default-ulimit": "default-ulimits", "feature": "features", "node-generic-resource": "node-generic-resources",
    "add-runtime": "runtimes", "containerd-plugins-namespace": "containerd-namespace",
}  # fmt: skip


class KeyStatus(enum.StrEnum):
    VALID = "valid"
    IGNORED = "accepted-ignored"  # passes validation, value silently not applied
    REJECTED = "rejected"  # dockerd refuses to start
    REMOVED = "removed"  # parses, any non-empty value fails validation


@dataclass(frozen=True)
class KeyTable:
    statuses: dict[str, dict[str, KeyStatus]]  # key -> engine version -> status

    def status(self, key: str, version: str) -> KeyStatus:
        return self.statuses.get(key, {}).get(version, KeyStatus.REJECTED)

    def valid_keys(self, version: str) -> list[str]:
        return sorted(k for k, by_version in self.statuses.items() if by_version.get(version) is KeyStatus.VALID)

    def suggest(self, key: str, version: str) -> str | None:
        """The key meant: the plural of a singular flag name, else the closest valid key (difflib)."""
        if key in PLURAL_OF:
            return PLURAL_OF[key]
        lowered = key.lower().replace("_", "-")
        valid = self.valid_keys(version)
        if lowered in valid:
            return lowered
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        return close[0] if close else None


@cache
def key_table() -> KeyTable:
    text = (files("cityscale.doctor") / "data" / "daemon_json_keys.tsv").read_text(encoding="utf-8")
    statuses: dict[str, dict[str, KeyStatus]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, *cells = line.split("\t")
        statuses[key] = {version: _status(cell) for version, cell in zip(ENGINE_VERSIONS, cells, strict=False)}
    return KeyTable(statuses)


def _status(cell: str) -> KeyStatus:
    word = re.sub(r"\[[es]\]$", "", cell).split("(", 1)[0]
    if word in {"valid", "valid-object"}:
        return KeyStatus.VALID
    if word == "accepted-ignored":
        return KeyStatus.IGNORED
    if word == "removed":
        return KeyStatus.REMOVED
    return KeyStatus.REJECTED


def nearest_known_version(version: str | None) -> str | None:
    """The measured version with the same major number (the key set changes between majors)."""
    if not version:
        return None
    major = version.split(".", 1)[0]
    matching = [v for v in ENGINE_VERSIONS if v.split(".", 1)[0] == major]
    if matching:
        return matching[0]
    # older than the table: the oldest measured; newer: the newest
    return ENGINE_VERSIONS[0] if major.isdigit() and int(major) < 27 else ENGINE_VERSIONS[-1]


def effective_keys(config: dict[str, object], version: str) -> list[tuple[str, str | None]]:
    """The keys dockerd validates: (key, parent) where parent is the object it was flattened out of."""
    flat = FLAT_OPTIONS_V29 if version.startswith("29") else FLAT_OPTIONS
    keys: list[tuple[str, str | None]] = []
    for key, value in config.items():
        if isinstance(value, dict) and key not in flat and key != "proxies":
            keys.extend((str(inner), key) for inner in value)
        else:
            keys.append((key, None))
    return keys
