"""A full disk during a write: a smart error brz shows as one clear line, not a traceback."""

from __future__ import annotations

import errno
from typing import Any

from breezy.bzr.smart import request

# Errors that mean "no room for this write": the disk, the user's quota, a file-size limit.
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# Sent as TipChangeRejected, the one smart error whose free text the client prints as it is
# (an unknown error becomes an "internal error" with a traceback on the client).
DISK_FULL_MESSAGE = (b"the server's disk is full; nothing was changed. "
                     b"Push again once the operator has made room.")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an OSError saying there is no room to write."""
    return isinstance(exc, OSError) and exc.errno in NO_ROOM_ERRNOS


def install_disk_full_errors() -> None:
    """Make Breezy's smart server answer a full disk with DISK_FULL_MESSAGE (once per process)."""
    translate = request._translate_error
    if getattr(translate, "bzrstore_disk_full", False):
        return

    def translate_error(err: BaseException) -> tuple[Any, ...]:
        if is_disk_full(err):
            return (b"TipChangeRejected", DISK_FULL_MESSAGE)
        return translate(err)

    translate_error.bzrstore_disk_full = True  # type: ignore[attr-defined]
    # Breezy's request handler and protocol look the function up in this module on each error.
    request._translate_error = translate_error
