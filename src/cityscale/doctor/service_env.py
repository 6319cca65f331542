"""The service's settings as raw strings, with where each came from.

The doctor cannot use `load_settings`: it rejects exactly the values the doctor must explain (a 100 ms
timeout), so checks read raw values here and `Settings.model_construct` only to reuse URL assembly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cityscale.settings import Settings


class ServiceEnv:
    """Layers of variables, later layers winning; an empty value counts as unset (as in `Settings`)."""

    def __init__(self, layers: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        self._layers = list(layers)

    def get(self, name: str) -> str | None:
        found = self._lookup(name)
        return found[1] if found else None

    def source(self, name: str) -> str:
        found = self._lookup(name)
        return found[0] if found else "default"

    def describe(self, name: str) -> str:
        """`NAME=value (from where)` for evidence lines; secrets are not shown."""
        value = self.get(name)
        if value is None:
            return f"{name} is not set"
        shown = "<hidden>" if name in {"DB_PASSWORD", "API_TOKEN", "DATABASE_URL"} else value
        return f"{name}={shown} (from {self.source(name)})"

    def _lookup(self, name: str) -> tuple[str, str] | None:
        for where, values in reversed(self._layers):
            value = values.get(name)
            if value is not None and value != "":
                return where, value
        return None

    def known(self) -> dict[str, str]:
        """Only the variables `Settings` knows, as an instance would receive them."""
        return {name: value for name in Settings.model_fields if (value := self.get(name)) is not None}

    def unvalidated_settings(self) -> Settings:
        """A `Settings` built without validation (values stay strings): only for its URL properties."""
        return Settings.model_construct(**self.known())  # type: ignore[arg-type]

    def primary_url(self) -> str:
        return self.unvalidated_settings().primary_url

    def replica_urls(self) -> list[str]:
        raw = self.get("DB_REPLICA_URLS") or ""
        return [part.strip() for part in raw.split(",") if part.strip()]

    def number(self, name: str) -> float | None:
        """The value as a number; None when unset; raises ValueError when it is not a number."""
        value = self.get(name)
        return None if value is None else float(value)


def read_dotenv(path: Path) -> dict[str, str] | None:
    """`KEY=VALUE` lines as Compose and most tools read them (comments, `export`, quotes)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError:
        return None
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
