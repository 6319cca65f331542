"""Request bodies of the write endpoints: size, media type and schema, each refused precisely."""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request

from cityscale.api.problems import Problem

_NO_NUL = r"^[^\x00]*$"
Name = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=200, pattern=_NO_NUL, description="Non-empty text, at most 200 characters"),
]
Region = Annotated[str, msgspec.Meta(max_length=200, pattern=_NO_NUL)]
CountryCode = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
# JSON Schema counts 154.0 as an integer, so we accept it too (then check it is whole, see `decode`).
Population = Annotated[int, msgspec.Meta(ge=0, le=10**11)] | Annotated[float, msgspec.Meta(ge=0, le=10**11)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
TimeZone = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$", description="IANA time zone, e.g. Europe/Paris"
    ),
]


class CityWrite(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A whole city, for POST (create) and PUT (replace)."""

    city_name: Name
    country: Name
    state: Region = ""
    country_code: CountryCode | None = None
    population: Population = 0
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    timezone: TimeZone | None = None


class CityPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Some fields of a city (JSON merge patch, RFC 7396); `null` clears an optional field."""

    city_name: Name | msgspec.UnsetType = msgspec.UNSET
    country: Name | msgspec.UnsetType = msgspec.UNSET
    state: Region | msgspec.UnsetType = msgspec.UNSET
    country_code: CountryCode | msgspec.UnsetType | None = msgspec.UNSET
    population: Population | msgspec.UnsetType = msgspec.UNSET
    latitude: Latitude | msgspec.UnsetType | None = msgspec.UNSET
    longitude: Longitude | msgspec.UnsetType | None = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType | None = msgspec.UNSET


T = TypeVar("T")

# A refused body is still read (and dropped) up to this size, so that the client, which is still
# sending, reads our 413 instead of a connection reset. Larger bodies get the 413 and a closed socket.
DRAIN_LIMIT_BYTES = 1024 * 1024

JSON_MEDIA_TYPES = frozenset({"application/json", "application/merge-patch+json"})


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refusing a wrong media type (415) or more than `max_bytes` (413) before reading it all."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the body as application/json, not {media_type or 'no Content-Type'}",
        )
    too_large = Problem(413, "body-too-large", "Request body too large", f"the body must be at most {max_bytes} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise Problem(400, "invalid-header", "Invalid request", "Content-Length is not a number")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size <= max_bytes:
                chunks.append(chunk)
            elif size > DRAIN_LIMIT_BYTES:
                break
    except ClientDisconnect:
        raise Problem(400, "client-disconnect", "Invalid request", "the client closed the body early") from None
    if size > max_bytes:
        raise too_large
    return b"".join(chunks)


def decode(body: bytes, kind: type[T]) -> T:
    """Decode and validate JSON into `kind`: 400 when it is not JSON, 422 when it breaks the schema."""
    if not body.strip():
        raise Problem(400, "malformed-json", "Malformed JSON", "the request body is empty; send a JSON object")
    try:
        value = msgspec.json.decode(body, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise Problem(422, "validation", "Invalid city", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise Problem(400, "malformed-json", "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    population = getattr(value, "population", msgspec.UNSET)
    if isinstance(population, float):
        if not population.is_integer():
            raise Problem(422, "validation", "Invalid city", "Expected a whole number - at `$.population`")
        value.population = int(population)  # type: ignore[attr-defined]
    return value


def as_columns(value: msgspec.Struct) -> dict[str, object]:
    """The set fields of a write, as column values."""
    return {
        field: getattr(value, field) for field in value.__struct_fields__ if getattr(value, field) is not msgspec.UNSET
    }
