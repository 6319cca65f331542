"""`API_TOKEN` missing (writes are refused) or a placeholder (anyone can write)."""

from __future__ import annotations

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, warn
from cityscale.settings import PLACEHOLDER_TOKENS

GENERATE = "API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"


@check("config.api-token", Layer.CONFIG, "API_TOKEN is set and not a placeholder", rank=30)
def api_token(ctx: Context) -> Outcome:
    env = ctx.service_env
    token = env.get("API_TOKEN")
    if token is None:
        return warn(
            "API_TOKEN is not set: every write (POST/PUT/PATCH/DELETE) is refused", remediation=f"set {GENERATE}"
        )
    if token.strip().lower() in PLACEHOLDER_TOKENS:
        return fail(
            f"API_TOKEN is a well-known placeholder (from {env.source('API_TOKEN')}): anyone can write",
            remediation=f"set {GENERATE}",
        )
    return ok(f"API_TOKEN is set (from {env.source('API_TOKEN')}, {len(token)} characters)")
