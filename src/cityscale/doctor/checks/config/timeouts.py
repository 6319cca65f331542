"""Connect, acquire and statement timeouts below a sane floor (incident fault 6: a 100 ms connect timeout).

Read as raw values: `load_settings` refuses these, so an instance would not even start; the doctor says
which variable, what value, from where, and why it fails even without load.
"""

from __future__ import annotations

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok
from cityscale.settings import MIN_TIMEOUT_SECONDS

TIMEOUTS = ("DB_CONNECT_TIMEOUT", "DB_ACQUIRE_TIMEOUT", "DB_STATEMENT_TIMEOUT")


@check("config.timeouts", Layer.CONFIG, "timeouts are above the sane floor", rank=20)
def timeouts(ctx: Context) -> Outcome:
    env = ctx.service_env
    problems, fine = [], []
    for name in TIMEOUTS:
        try:
            value = env.number(name)
        except ValueError:
            problems.append(f"{env.describe(name)}: not a number of seconds")
            continue
        if value is None:
            fine.append(f"{name}: default")
        elif not value >= MIN_TIMEOUT_SECONDS:
            problems.append(
                f"{env.describe(name)}: {value * 1000:g} ms is below the {MIN_TIMEOUT_SECONDS * 1000:g} ms floor; "
                "a TCP + auth handshake to a busy database takes longer, so connections fail without any load"
            )
        else:
            fine.append(f"{env.describe(name)}")
    if problems:
        names = [p.split("=", 1)[0] for p in problems]
        return fail(
            f"{len(problems)} timeout(s) too low: the API refuses to start, and would fail connections if it did",
            *problems,
            remediation="\n".join(
                f"set {name}=2   # seconds (the default); at least {MIN_TIMEOUT_SECONDS:g}" for name in names
            ),
        )
    return ok("timeouts are at or above the floor", *fine)
