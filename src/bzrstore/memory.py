"""Process memory policy: large buffers go back to the OS as soon as they are freed."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

# glibc's mallopt() parameter number for the mmap threshold.
M_MMAP_THRESHOLD = -3


def set_mmap_threshold(nbytes: int) -> bool:
    """Serve allocations of ``nbytes`` or more with mmap; False where that is not possible.

    glibc raises its mmap threshold each time such a block is freed, up to 32 MiB,
    after which the multi-megabyte buffers of a push (stream chunks, groupcompress
    blocks) come from the heap and keep the worker large long after the push.
    Fixing the threshold turns that growth off.
    """
    mallopt = _glibc("mallopt")
    if nbytes <= 0 or mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, nbytes))


def trim_heap() -> bool:
    """Return free memory in every malloc arena to the OS; False where that is not possible.

    glibc gives each thread its own arena and keeps what a thread freed there: the
    matcher's buffers and line lists of a diff thread stayed in the worker (+147 MiB
    after one diff, measured) until some later thread reused that arena.
    """
    trim = _glibc("malloc_trim")
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _glibc(name: str) -> Any:
    """glibc's function ``name``, or None where the C library is not glibc."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
