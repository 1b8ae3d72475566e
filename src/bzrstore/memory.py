"""Process memory policy: large buffers go back to the OS as soon as they are freed."""

from __future__ import annotations

import ctypes

# glibc's mallopt() parameter number for the mmap threshold.
M_MMAP_THRESHOLD = -3


def set_mmap_threshold(nbytes: int) -> bool:
    """Serve allocations of ``nbytes`` or more with mmap; False where that is not possible.

    glibc raises its mmap threshold each time such a block is freed, up to 32 MiB,
    after which the multi-megabyte buffers of a push (stream chunks, groupcompress
    blocks) come from the heap and keep the worker large long after the push.
    Fixing the threshold turns that growth off.
    """
    if nbytes <= 0:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, nbytes))
