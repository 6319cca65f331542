"""The settings as a whole pass `load_settings`: otherwise an instance exits at start with this one line."""

from __future__ import annotations

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok
from cityscale.settings import ConfigError, load_settings


@check("config.settings", Layer.CONFIG, "an API instance would accept these settings", rank=90)
def settings_valid(ctx: Context) -> Outcome:
    env = ctx.service_env
    try:
        load_settings(env.known())
    except ConfigError as exc:
        return fail(
            "an API instance would exit at start-up",
            str(exc),
            remediation="correct the variable named above (see docs/doctor.md and the config.* checks)",
        )
    return ok("the settings validate", *(env.describe(name) for name in ("DB_HOST", "DB_PORT", "DB_NAME", "REDIS_URL")))
