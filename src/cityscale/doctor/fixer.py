"""`--fix`: apply a check's `FileEdit` only if the file is unchanged since it was read, keeping a backup.

Only edits that checks offer are applied, and checks offer only reversible text edits (rename a
`daemon.json` key, comment out an alias). Anything else (chattr, killing a process) stays a printed command.
"""

from __future__ import annotations

import difflib
import shutil
import time

from cityscale.doctor.report import FileEdit


class FixError(Exception):
    """The edit was not applied; the message says why in one line."""


def unified_diff(edit: FileEdit, shown_path: str) -> str:
    return "".join(
        difflib.unified_diff(
            edit.before.splitlines(keepends=True),
            edit.after.splitlines(keepends=True),
            fromfile=f"{shown_path} (now)",
            tofile=f"{shown_path} (fixed)",
        )
    )


def apply_edit(edit: FileEdit) -> str:
    """Write `edit.after`; returns the backup's path. Raises `FixError` when it cannot be done safely."""
    try:
        current = edit.path.read_bytes().decode(edit.encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise FixError(f"cannot read {edit.path}: {exc}") from None
    if current != edit.before:
        raise FixError(f"{edit.path} changed since it was checked; run the doctor again")
    backup = edit.path.with_name(f"{edit.path.name}.cityscale-doctor-{time.strftime('%Y%m%dT%H%M%S')}.bak")
    try:
        shutil.copy2(edit.path, backup)
    except OSError as exc:
        raise FixError(f"cannot write the backup {backup}: {exc.strerror}") from None
    try:
        # write in place (not rename) so the file keeps its owner, mode and inode
        with edit.path.open("wb") as out:
            out.write(edit.after.encode(edit.encoding))
    except PermissionError as exc:
        backup.unlink(missing_ok=True)
        raise FixError(
            f"cannot write {edit.path}: {exc.strerror} (if it is immutable, run `chattr -i {edit.path}` first)"
        ) from None
    return str(backup)
