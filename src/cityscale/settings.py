"""The service's configuration: one validated object read from the environment.

Variable names are compatible with the original Node.js service (`DB_HOST`, `DB_PORT`, `DB_USER`,
`DB_PASSWORD`, `DB_NAME`) and extended as in DESIGN.md section 2. A bad value is reported in one line
that names the variable (`ConfigError`), never as a traceback.
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import quote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Timeouts below this are a misconfiguration, not a tuning choice: the original service's 100 ms
# connect timeout failed every connection made while the database was busy.
MIN_TIMEOUT_SECONDS = 0.25

PLACEHOLDER_TOKENS = frozenset({"changeme", "changethis", "secret", "token", "password", "test", "xxx"})


class ConfigError(Exception):
    """A configuration problem, phrased for a person: one line naming the variable."""


class Settings(BaseSettings):
    """Everything an API instance needs to know, from environment variables of the same name."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True, env_ignore_empty=True)

    DATABASE_URL: str | None = None
    DB_HOST: str | None = None
    DB_PORT: int = Field(5432, ge=1, le=65535)
    DB_USER: str = "postgres"
    DB_PASSWORD: str = ""
    DB_NAME: str = "cities"
    DB_REPLICA_URLS: Annotated[tuple[str, ...], NoDecode] = ()
    DB_POOL_MIN: int = Field(1, ge=0, le=1000)
    DB_POOL_MAX: int = Field(10, ge=1, le=1000)
    DB_CONNECT_TIMEOUT: float = Field(2.0, gt=0, le=300)
    DB_ACQUIRE_TIMEOUT: float = Field(1.0, gt=0, le=300)
    DB_STATEMENT_TIMEOUT: float = Field(5.0, gt=0, le=3600)
    MAX_REPLICA_LAG: float = Field(5.0, ge=0, le=86400)
    REDIS_URL: str = ""
    CACHE_TTL: float = Field(30.0, ge=0, le=86400)
    CACHE_L1_TTL: float = Field(1.0, ge=0, le=60)
    API_TOKEN: str | None = None
    LOG_LEVEL: str = "info"
    MAX_BODY_BYTES: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)

    @field_validator("DB_REPLICA_URLS", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("DATABASE_URL", mode="after")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        _check_postgres_url(value)
        return value

    @field_validator("DB_REPLICA_URLS", mode="after")
    @classmethod
    def _check_replica_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            _check_postgres_url(url)
        return value

    @field_validator("REDIS_URL", mode="after")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("LOG_LEVEL", mode="after")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("must be one of debug, info, warning, error, critical")
        return level

    @field_validator("DB_CONNECT_TIMEOUT", "DB_ACQUIRE_TIMEOUT", "DB_STATEMENT_TIMEOUT", mode="after")
    @classmethod
    def _check_timeout_floor(cls, value: float) -> float:
        if not math.isfinite(value) or value < MIN_TIMEOUT_SECONDS:
            raise ValueError(
                f"{value:g} s is below the sane floor of {MIN_TIMEOUT_SECONDS:g} s "
                "(the original service failed with a 100 ms connect timeout)"
            )
        return value

    @model_validator(mode="after")
    def _check_pool_bounds(self) -> Settings:
        if self.DB_POOL_MIN > self.DB_POOL_MAX:
            raise ValueError(f"DB_POOL_MIN ({self.DB_POOL_MIN}) is larger than DB_POOL_MAX ({self.DB_POOL_MAX})")
        return self

    @property
    def database_configured(self) -> bool:
        """True when the environment names a database; False means "use the embedded one"."""
        return self.DATABASE_URL is not None or self.DB_HOST is not None

    @property
    def primary_url(self) -> str:
        """The primary's connection URL, from `DATABASE_URL` or the `DB_*` parts."""
        if self.DATABASE_URL:
            return self.DATABASE_URL
        host = self.DB_HOST or "127.0.0.1"
        auth = quote(self.DB_USER, safe="")
        if self.DB_PASSWORD:
            auth += ":" + quote(self.DB_PASSWORD, safe="")
        return f"postgresql://{auth}@{host}:{self.DB_PORT}/{quote(self.DB_NAME, safe='')}"

    @property
    def writes_enabled(self) -> bool:
        return bool(self.API_TOKEN)

    @property
    def api_token_is_placeholder(self) -> bool:
        return self.API_TOKEN is not None and self.API_TOKEN.strip().lower() in PLACEHOLDER_TOKENS


def _check_postgres_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("must be a postgresql:// URL")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("names no host")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise `ConfigError` with one readable line on a bad value."""
    try:
        if environ is None:
            return Settings()
        # pydantic-settings reads os.environ; an explicit mapping is passed as init values instead,
        # restricted to our own variable names (so unrelated keys are ignored, as in the environment).
        known = {k: v for k, v in environ.items() if k in Settings.model_fields and v != ""}
        return Settings.model_validate(known)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a rule across several variables: the message names them
        return f"configuration error: {message}"
    where = ".".join(str(part) for part in first["loc"])
    given = first.get("input")
    if isinstance(given, str) and where not in {"DB_PASSWORD", "API_TOKEN", "DATABASE_URL"}:
        return f"configuration error: {where}={given!r}: {message}"
    return f"configuration error: {where}: {message}"
