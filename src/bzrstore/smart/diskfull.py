"""A full disk during a write: a clear smart error, and no half-made branch left behind."""

from __future__ import annotations

import errno
from typing import Any

from breezy import errors
from breezy.bzr.smart import bzrdir as smart_bzrdir
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


def _rolled_back(handler: type, path_index: int) -> type:
    """``handler``, removing the directory it was creating when the disk fills up.

    Breezy leaves a half-made ``.bzr`` behind, and the client then refuses to push
    there ("already exists, but does not have a .bzr directory") even with room again.
    """

    class RolledBackOnFullDisk(handler):
        def do(self, *args: Any) -> Any:
            target = self.transport_from_client_path(args[path_index])
            existed = target.has(".")
            try:
                return super().do(*args)
            except OSError as exc:
                if is_disk_full(exc) and not existed:
                    try:
                        target.delete_tree(".")
                    except (errors.BzrError, OSError):
                        pass  # the original error is what the client must see
                raise

    RolledBackOnFullDisk.__name__ = handler.__name__
    return RolledBackOnFullDisk


# Handlers of the verbs that create a control directory (the path is argument 0 or 1),
# for the bounded verb registry (verbs.build_command_registry).
ROLLED_BACK_VERBS: dict[bytes, type] = {
    b"BzrDirFormat.initialize": _rolled_back(smart_bzrdir.SmartServerRequestInitializeBzrDir, 0),
    b"BzrDirFormat.initialize_ex_1.16": _rolled_back(
        smart_bzrdir.SmartServerRequestBzrDirInitializeEx, 1),
}


def install_disk_full_errors() -> None:
    """Answer a full disk with DISK_FULL_MESSAGE, whatever verb met it (once per process)."""
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
