"""The form-signing key: made once, then the same for every connection, on both backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bzrstore.registry import Registry, open_registry


def test_one_key_for_everyone(registry: Registry, settings):
    key = registry.form_signing_key()
    assert len(key) >= 40
    assert registry.form_signing_key() == key
    other = open_registry(settings)  # another worker process, or node
    try:
        assert other.form_signing_key() == key
    finally:
        other.close()


def test_concurrent_first_uses_agree(registry: Registry):
    with ThreadPoolExecutor(4) as pool:
        keys = set(pool.map(lambda _: registry.form_signing_key(), range(8)))
    assert len(keys) == 1
