"""The process memory policy."""

from __future__ import annotations

import platform

import pytest

from bzrstore.memory import set_mmap_threshold


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_mmap_threshold_is_set_on_glibc():
    assert set_mmap_threshold(128 * 1024) is True


def test_zero_leaves_malloc_alone():
    assert set_mmap_threshold(0) is False
