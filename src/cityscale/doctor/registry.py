"""How checks are declared and found: a module under `doctor/checks/` decorates a function with `@check`.

Adding a check is adding one module (and its test); nothing else needs to know about it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cityscale.doctor.context import Context
from cityscale.doctor.report import LAYER_ORDER, Layer, Outcome

DEFAULT_TIMEOUT_SECONDS = 10.0

CheckFunction = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Check:
    id: str  # stable: `<layer>.<name>`; scripts and `--only` rely on it
    layer: Layer
    title: str
    run: CheckFunction
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    rank: int = 50  # order inside the layer: lower first (the check the others depend on comes first)


_registered: list[Check] = []


def check(
    check_id: str, layer: Layer, title: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, rank: int = 50
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as a check."""
    if not check_id.startswith(f"{layer}."):
        raise ValueError(f"check id {check_id!r} must start with its layer {layer!r}")

    def register(function: CheckFunction) -> CheckFunction:
        if any(c.id == check_id for c in _registered):
            raise ValueError(f"duplicate check id {check_id!r}")
        _registered.append(Check(check_id, layer, title, function, timeout, rank))
        return function

    return register


def all_checks() -> list[Check]:
    """Every check in `cityscale.doctor.checks`, in layer order (host first), then rank, then module order."""
    from cityscale.doctor import checks

    for module in pkgutil.walk_packages(checks.__path__, prefix=f"{checks.__name__}."):
        importlib.import_module(module.name)
    order = {layer: i for i, layer in enumerate(LAYER_ORDER)}
    return sorted(_registered, key=lambda c: (order[c.layer], c.rank))


class SelectionError(ValueError):
    """`--only`/`--skip` named something that is neither a check id nor a layer."""


def select(checks: list[Check], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Check]:
    """Checks matching any `only` token (all when empty) and no `skip` token; a token is an id or a layer."""
    only, skip = list(only), list(skip)
    known = {c.id for c in checks} | {str(layer) for layer in Layer}
    for token in [*only, *skip]:
        if token not in known:
            raise SelectionError(f"unknown check or layer {token!r} (see `cityscale doctor --list`)")

    def matches(c: Check, tokens: list[str]) -> bool:
        return c.id in tokens or str(c.layer) in tokens

    return [c for c in checks if (not only or matches(c, only)) and not matches(c, skip)]
