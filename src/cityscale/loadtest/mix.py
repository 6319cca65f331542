"""A weighted mix of request templates, from `--request` flags or a small TOML file.

A template is `METHOD PATH [BODY]` where PATH and BODY may hold placeholders, drawn anew per request:
`{id:LO-HI}` a random integer in [LO, HI]; `{pick:a|b|c}` one of the choices; `{seq}` a number unique
within the run (e.g. to name the cities a write creates). Requests whose method changes state carry
`Authorization: Bearer $API_TOKEN`, read from the environment and never printed.
"""

from __future__ import annotations

import itertools
import random
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cityscale.loadtest.target import Target

READ_METHODS = frozenset({"GET", "OPTIONS"})
# No HEAD: its response declares a body that never comes, and the parser does not know the method.
_METHODS = READ_METHODS | {"POST", "PUT", "PATCH", "DELETE"}
_PLACEHOLDER = re.compile(r"\{([a-z]+)(?::([^{}]*))?\}")


class MixError(ValueError):
    """A request template or mix file that cannot be used; the message names the culprit."""


Part = str | Callable[[], str]


def _compile(text: str, where: str, rng: random.Random, seq: Callable[[], int]) -> list[Part]:
    """Split once into literal text and drawing functions, so building a request is a cheap join."""
    parts: list[Part] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[position : match.start()])
        parts.append(_placeholder(match.group(1), match.group(2), where, rng, seq))
        position = match.end()
    parts.append(text[position:])
    return [part for part in parts if part != ""]


def _placeholder(kind: str, arg: str | None, where: str, rng: random.Random, seq: Callable[[], int]) -> Part:
    if kind == "id":
        match = re.fullmatch(r"(\d+)-(\d+)", arg or "")
        if match is None or int(match.group(1)) > int(match.group(2)):
            raise MixError(f"{where}: {{id:{arg}}} needs a range LO-HI with LO <= HI, e.g. {{id:1-1000}}")
        low, high = int(match.group(1)), int(match.group(2))
        return lambda: str(rng.randint(low, high))
    if kind == "pick":
        choices = (arg or "").split("|")
        if not arg or "" in choices:
            raise MixError(f"{where}: {{pick:...}} needs choices separated by |, e.g. {{pick:FR|DE}}")
        return lambda: rng.choice(choices)
    if kind == "seq" and arg is None:
        return lambda: str(seq())
    raise MixError(
        f"{where}: unknown placeholder {{{kind}{':' + arg if arg is not None else ''}}}; "
        "use {id:LO-HI}, {pick:a|b} or {seq}"
    )


def _render(parts: list[Part]) -> str:
    return "".join(part if isinstance(part, str) else part() for part in parts)


@dataclass
class RequestTemplate:
    """One entry of the mix; `build()` returns the request's bytes, its path and body (for the write record)."""

    weight: float
    method: str
    path: list[Part]
    body: list[Part] | None
    label: str
    head: bytes = field(default=b"")
    fixed: bytes | None = None
    fixed_path: str = ""

    @property
    def is_write(self) -> bool:
        return self.method not in READ_METHODS

    def build(self) -> tuple[bytes, str, str | None]:
        if self.fixed is not None:
            return self.fixed, self.fixed_path, None
        path = _render(self.path)
        if self.body is None:
            return b"%s %s HTTP/1.1\r\n%s\r\n" % (self.method.encode(), path.encode(), self.head), path, None
        body = _render(self.body).encode()
        request = b"%s %s HTTP/1.1\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            self.method.encode(),
            path.encode(),
            self.head,
            len(body),
            body,
        )
        return request, path, body.decode()


@dataclass
class Mix:
    templates: list[RequestTemplate]
    rng: random.Random

    @property
    def has_writes(self) -> bool:
        return any(t.is_write for t in self.templates)

    def chooser(self) -> Callable[[], RequestTemplate]:
        """A function drawing one template by weight (cumulative weights precomputed once)."""
        if len(self.templates) == 1:
            only = self.templates[0]
            return lambda: only
        population = self.templates
        cumulative = list(itertools.accumulate(t.weight for t in population))
        choices = self.rng.choices
        return lambda: choices(population, cum_weights=cumulative)[0]

    def describe(self) -> list[dict[str, object]]:
        total = sum(t.weight for t in self.templates)
        return [{"request": t.label, "share": t.weight / total} for t in self.templates]


@dataclass(frozen=True)
class TemplateSpec:
    """One entry as written by the user, before compiling."""

    weight: float
    method: str
    path: str
    body: str | None
    where: str


def parse_flag(text: str, index: int) -> TemplateSpec:
    """`WEIGHT METHOD PATH [BODY]`, e.g. `90 GET /api/cities/{id:1-1000}`."""
    where = f"--request #{index} ({text!r})"
    fields = text.strip().split(None, 3)
    if len(fields) < 3:
        raise MixError(f"{where}: expected WEIGHT METHOD PATH [BODY], e.g. '90 GET /api/cities/{{id:1-1000}}'")
    try:
        weight = float(fields[0])
    except ValueError:
        raise MixError(f"{where}: the weight {fields[0]!r} is not a number") from None
    return TemplateSpec(weight, fields[1], fields[2], fields[3] if len(fields) == 4 else None, where)


def parse_file(path: Path) -> list[TemplateSpec]:
    """A TOML file with `[[request]]` tables: `weight`, `method` (default GET), `path`, optional `body`."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MixError(f"mix file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MixError(f"mix file {path}: not valid TOML: {exc}") from None
    entries = document.get("request")
    if not isinstance(entries, list) or not entries:
        raise MixError(f"mix file {path}: expected one or more [[request]] tables")
    specs = []
    for number, entry in enumerate(entries, start=1):
        specs.append(_spec_from_table(entry, f"mix file {path}, request #{number}"))
    return specs


def _spec_from_table(entry: object, where: str) -> TemplateSpec:
    if not isinstance(entry, Mapping):
        raise MixError(f"{where}: expected a table")
    unknown = set(entry) - {"weight", "method", "path", "body"}
    if unknown:
        raise MixError(f"{where}: unknown keys {sorted(unknown)}; use weight, method, path, body")
    weight, method, path, body = (
        entry.get("weight", 1),
        entry.get("method", "GET"),
        entry.get("path"),
        entry.get("body"),
    )
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise MixError(f"{where}: weight must be a number")
    if not isinstance(method, str) or not isinstance(path, str):
        raise MixError(f"{where}: method and path must be strings (path is required)")
    if body is not None and not isinstance(body, str):
        raise MixError(f"{where}: body must be a string (the JSON text, placeholders allowed)")
    return TemplateSpec(float(weight), method, path, body, where)


def build_mix(
    specs: list[TemplateSpec],
    target: Target,
    token: str | None,
    *,
    seed: int | None = None,
    seq_start: int = 1,
    seq_step: int = 1,
) -> Mix:
    """Compile the templates for `target`; writes need `token` (the caller reads it from API_TOKEN).

    Generator process k of N uses `seq_start=k+1, seq_step=N`, so `{seq}` stays unique across them.
    """
    rng = random.Random(seed)  # noqa: S311 - load shapes, not secrets
    counter = itertools.count(seq_start, seq_step)
    seq = counter.__next__
    if not specs:
        specs = [TemplateSpec(1.0, "GET", target.path_and_query, None, "the URL")]
        prefix = ""
    else:
        prefix = target.path_prefix
    templates = []
    for spec in specs:
        method = spec.method.upper()
        if method not in _METHODS:
            raise MixError(f"{spec.where}: method {spec.method!r} is not one of {', '.join(sorted(_METHODS))}")
        if not spec.weight > 0:
            raise MixError(f"{spec.where}: the weight must be more than zero")
        if not spec.path.startswith("/"):
            raise MixError(f"{spec.where}: the path must start with /")
        if any(c in spec.path for c in " \r\n"):
            raise MixError(f"{spec.where}: the path must not contain spaces or line breaks (encode them as %20)")
        head = f"Host: {target.host_header}\r\n".encode()
        if method not in READ_METHODS:
            if not token:
                raise MixError(f"{spec.where}: {method} needs API_TOKEN in the environment (sent as a bearer token)")
            head += f"Authorization: Bearer {token}\r\n".encode()
        path_parts = _compile(prefix + spec.path, spec.where, rng, seq)
        body_parts = _compile(spec.body, spec.where, rng, seq) if spec.body is not None else None
        if body_parts is None and method in {"POST", "PUT", "PATCH"}:
            raise MixError(f"{spec.where}: {method} needs a JSON body")
        template = RequestTemplate(spec.weight, method, path_parts, body_parts, f"{method} {spec.path}", head)
        if body_parts is None and all(isinstance(p, str) for p in path_parts):
            template.fixed, template.fixed_path, _ = template.build()  # nothing to draw: build the bytes once
        templates.append(template)
    return Mix(templates, rng)
