"""Linux inode attributes (`lsattr`'s `i` immutable, `a` append-only) without running lsattr.

statx(2) first: it needs no open(), so it works on files this user cannot read. Falls back to the
FS_IOC_GETFLAGS ioctl (what lsattr does) where statx is unavailable. Constants: include/uapi/linux/fs.h,
include/uapi/linux/stat.h (research/doctor.md B3).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import errno
import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path

STATX_ATTR_IMMUTABLE = 0x10
STATX_ATTR_APPEND = 0x20
FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20
FS_IOC_GETFLAGS = 0x80086601  # _IOR('f', 1, long) on LP64 (x86_64, arm64)
_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_STATX_BUFFER = 256  # sizeof(struct statx)
_ATTRIBUTES_OFFSET = 8  # stx_attributes (u64)
_ATTRIBUTES_MASK_OFFSET = 56  # stx_attributes_mask (u64)


class Attribute(enum.StrEnum):
    IMMUTABLE = "immutable"
    APPEND_ONLY = "append-only"


@dataclass(frozen=True)
class Attributes:
    flags: frozenset[Attribute]
    method: str  # "statx" or "ioctl"


class AttributesUnknown(Exception):
    """The filesystem or the permissions do not let us read the attributes; the message says which."""


def read_attributes(path: Path) -> Attributes:
    try:
        return _via_statx(path)
    except _StatxUnavailable:
        return _via_ioctl(path)


class _StatxUnavailable(Exception):
    pass


def _via_statx(path: Path) -> Attributes:
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
    statx = getattr(libc, "statx", None)
    if statx is None:
        raise _StatxUnavailable
    buffer = ctypes.create_string_buffer(_STATX_BUFFER)
    if statx(_AT_FDCWD, os.fsencode(path), _AT_SYMLINK_NOFOLLOW, 0, buffer) != 0:
        code = ctypes.get_errno()
        if code == errno.ENOSYS:
            raise _StatxUnavailable
        raise AttributesUnknown(f"statx: {os.strerror(code)}")
    (attributes,) = struct.unpack_from("=Q", buffer, _ATTRIBUTES_OFFSET)
    (mask,) = struct.unpack_from("=Q", buffer, _ATTRIBUTES_MASK_OFFSET)
    if not mask & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND):
        # the filesystem does not report these bits through statx; ask the ioctl instead
        return _via_ioctl(path)
    flags = {Attribute.IMMUTABLE} if attributes & STATX_ATTR_IMMUTABLE else set()
    if attributes & STATX_ATTR_APPEND:
        flags.add(Attribute.APPEND_ONLY)
    return Attributes(frozenset(flags), "statx")


def _via_ioctl(path: Path) -> Attributes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise AttributesUnknown(f"open: {exc.strerror}") from None
    try:
        raw = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4)  # lsattr passes an int, 4 bytes
    except OSError as exc:
        raise AttributesUnknown(f"this filesystem does not report attributes ({exc.strerror})") from None
    finally:
        os.close(fd)
    (value,) = struct.unpack("=I", raw)
    flags = {Attribute.IMMUTABLE} if value & FS_IMMUTABLE_FL else set()
    if value & FS_APPEND_FL:
        flags.add(Attribute.APPEND_ONLY)
    return Attributes(frozenset(flags), "ioctl")
