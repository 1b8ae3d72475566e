"""A full disk is answered with a smart error brz shows as one line."""

from __future__ import annotations

import errno

from breezy import errors
from breezy.bzr import remote
from breezy.bzr.smart import request

from bzrstore.smart.diskfull import DISK_FULL_MESSAGE, install_disk_full_errors


def test_no_room_errors_become_a_message_brz_prints():
    install_disk_full_errors()
    install_disk_full_errors()  # twice is once
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        assert request._translate_error(OSError(code, "no room")) == (
            b"TipChangeRejected", DISK_FULL_MESSAGE)
    # Other errors keep Breezy's own translation.
    assert request._translate_error(OSError(errno.EACCES, "denied"))[0] == b"error"
    assert request._translate_error(errors.LockContention("x")) == (b"LockContention",)


def test_the_client_shows_the_message_without_a_traceback():
    error = errors.ErrorFromSmartServer((b"TipChangeRejected", DISK_FULL_MESSAGE))
    translated = remote.no_context_error_translators.get(b"TipChangeRejected")(error)
    assert isinstance(translated, errors.TipChangeRejected)
    assert not translated.internal_error
    assert "the server's disk is full; nothing was changed" in str(translated)

