"""`docker` shadowed by an alias or a function in a shell start-up file (incident fault 1).

Read statically (the files are not executed): bash, zsh and fish start-up files of root and every
human user, plus the files they `source`. Aliases only act in interactive shells, which is exactly
where a person types `docker` and gets something else.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cityscale.doctor.context import Context, User
from cityscale.doctor.paths import is_file
from cityscale.doctor.registry import check
from cityscale.doctor.report import FileEdit, Layer, Outcome, fail, ok

COMMAND = "docker"
GLOBAL_FILES = (
    "/etc/bash.bashrc", "/etc/profile", "/etc/zsh/zshenv", "/etc/zsh/zprofile", "/etc/zsh/zshrc", "/etc/zsh/zlogin",
    "/etc/zshrc", "/etc/fish/config.fish",
)  # fmt: skip
GLOBAL_GLOBS = (("/etc/profile.d", "*.sh"), ("/etc/fish/conf.d", "*.fish"))
HOME_FILES = (
    ".bashrc", ".bash_aliases", ".bash_profile", ".bash_login", ".profile", ".zshenv", ".zprofile", ".zshrc",
    ".zlogin", ".config/fish/config.fish", ".config/fish/functions/docker.fish",
)  # fmt: skip
MAX_FILES = 200  # bound the walk through `source` chains
DISABLED_MARK = "# disabled by cityscale doctor (it shadowed the docker command): "

_FUNCTION = re.compile(rf"^(?:function\s+{COMMAND}\b|{COMMAND}\s*\(\s*\))")
# `source F` / `. F` as a command of its own: at the line start, or after `&&`, `||`, `;`, `then`, `do`
# (`[ -f ~/.fzf.bash ] && source ~/.fzf.bash`, `if [ -f F ]; then . F; fi` on one line)
_SOURCE = re.compile(r"(?:^|&&|\|\||;|\bthen\b|\bdo\b)\s*(?:source|\.)\s+([^\s;&|]+)")
_UNALIAS = re.compile(rf"(?:^|&&|\|\||;)\s*unalias\s+(?:-a\b|.*\b{COMMAND}\b)")


@dataclass(frozen=True)
class Shadow:
    path: Path  # local path
    line: int
    kind: str  # "alias" or "function"
    text: str
    only_docker: bool  # the line defines nothing but the docker alias (safe to comment out)


@check("host.shell-alias", Layer.HOST, "docker shadowed by a shell alias or function", rank=10)
def shell_alias(ctx: Context) -> Outcome:
    shadows: list[Shadow] = []
    seen: set[Path] = set()
    for start in _start_files(ctx):
        _scan(ctx, start.path, start.home, shadows, seen)
    if not shadows:
        return ok(f"no alias or function named {COMMAND} in {len(seen)} shell start-up files")
    evidence = [f"{ctx.display(s.path)}:{s.line}: {s.kind}: {s.text.strip()}" for s in shadows]
    commands = []
    for s in shadows:
        if s.kind == "alias":
            commands.append(f"sed -i '{s.line}s/^/# /' {ctx.display(s.path)}")
        else:
            commands.append(f"remove the function {COMMAND} at {ctx.display(s.path)}:{s.line}")
    commands.append(
        f"then in open shells: unalias {COMMAND} 2>/dev/null; unset -f {COMMAND}  (bypass now: command {COMMAND} ...)"
    )
    return fail(
        f"`{COMMAND}` is shadowed: {len(shadows)} definition(s) replace the real command in interactive shells",
        *evidence,
        remediation="\n".join(commands),
        edits=_edits(shadows),
    )


@dataclass(frozen=True)
class _Start:
    path: Path
    home: PurePosixPath | None


def _start_files(ctx: Context) -> list[_Start]:
    starts = [_Start(ctx.path(name), None) for name in GLOBAL_FILES]
    for directory, pattern in GLOBAL_GLOBS:
        starts.extend(_Start(p, None) for p in sorted(ctx.path(directory).glob(pattern)))
    homes: list[User] = ctx.users
    for user in homes:
        starts.extend(_Start(ctx.path(user.home / name), user.home) for name in HOME_FILES)
        starts.extend(_Start(p, user.home) for p in sorted(ctx.path(user.home / ".config/fish/conf.d").glob("*.fish")))
    return starts


def _scan(
    ctx: Context,
    path: Path,
    home: PurePosixPath | None,
    shadows: list[Shadow],
    seen: set[Path],
    *,
    chain_start: int | None = None,
) -> None:
    """Collect shadows from `path` and the files it sources. `chain_start`: where this start file's
    findings begin in `shadows` (an `unalias` only undoes what its own chain defined before it)."""
    if chain_start is None:
        chain_start = len(shadows)
    if path in seen or len(seen) >= MAX_FILES or not is_file(path):
        return
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    fish = path.suffix == ".fish"
    if fish and path.name == f"{COMMAND}.fish" and path.parent.name == "functions":
        shadows.append(Shadow(path, 1, "function", f"fish autoloaded function {path.name}", only_docker=False))
        return
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        if line.startswith("alias "):
            defined = _alias_names(line, fish)
            if COMMAND in defined:
                shadows.append(Shadow(path, number, "alias", raw, only_docker=defined == [COMMAND]))
        elif _FUNCTION.match(line):
            shadows.append(Shadow(path, number, "function", raw, only_docker=False))
        elif _UNALIAS.search(line) and not fish:
            # a later `unalias docker` (or `unalias -a`) undoes the aliases read so far in this chain
            shadows[chain_start:] = [x for x in shadows[chain_start:] if x.kind != "alias"]
        else:
            for target in _sourced(ctx, line, home, path):
                _scan(ctx, target, home, shadows, seen, chain_start=chain_start)


def _sourced(ctx: Context, line: str, home: PurePosixPath | None, current: Path) -> list[Path]:
    """The files a line sources that can be known statically."""
    found = (_resolve(ctx, match.group(1), home, current) for match in _SOURCE.finditer(line))
    return [target for target in found if target is not None]


def _alias_names(line: str, fish: bool) -> list[str]:
    try:
        words = shlex.split(line, comments=True)[1:]
    except ValueError:  # unbalanced quotes: fall back to whitespace
        words = line.split()[1:]
    words = [w for w in words if not w.startswith("-")]
    if fish and words and "=" not in words[0]:  # fish: alias NAME 'BODY'
        return [words[0]]
    return [w.split("=", 1)[0] for w in words if "=" in w]


def _resolve(ctx: Context, target: str, home: PurePosixPath | None, current: Path) -> Path | None:
    """A sourced file's local path; None for what cannot be known statically (other variables)."""
    if home is not None:
        for prefix in ("~/", "$HOME/", "${HOME}/", '"$HOME"/', '"${HOME}"/'):
            if target.startswith(prefix):
                return ctx.path(home / target[len(prefix) :].strip('"'))
    target = target.strip("\"'")
    if "$" in target or "*" in target:
        return None
    if target.startswith("/"):
        return ctx.path(target)
    return current.parent / target


def _edits(shadows: list[Shadow]) -> tuple[FileEdit, ...]:
    by_file: dict[Path, list[Shadow]] = {}
    for s in shadows:
        if s.kind == "alias" and s.only_docker:
            by_file.setdefault(s.path, []).append(s)
    edits = []
    for path, found in by_file.items():
        try:  # bytes, not read_text: keep CRLF line ends exactly as the fixer will compare them
            before = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        lines = before.splitlines(keepends=True)
        for s in found:
            lines[s.line - 1] = DISABLED_MARK + lines[s.line - 1]
        edits.append(FileEdit(path, before, "".join(lines), f"comment out the {COMMAND} alias in {path.name}"))
    return tuple(edits)
