"""What ``config.Settings`` adds to the fields its table defines: the checks, derived paths."""

from __future__ import annotations

import ipaddress
from pathlib import Path

# The bcrypt costs both pgcrypto and pyca bcrypt accept.
BCRYPT_COSTS = range(4, 32)


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


class SettingsRules:
    """What ``Settings`` adds to its fields: the checks, and the paths derived from data."""

    def __post_init__(self) -> None:
        if self.max_body_bytes <= 0:
            raise ConfigError("BZRSTORE_MAX_BODY_BYTES must be positive")
        if self.smart_app_cache_size < 2:
            raise ConfigError("BZRSTORE_SMART_APP_CACHE_SIZE must be at least 2")
        if self.db_pool_size < 1:
            raise ConfigError("BZRSTORE_DB_POOL_SIZE must be at least 1")
        if self.auth_cache_seconds < 0 or self.codebase_cache_seconds < 0:
            raise ConfigError("cache durations must not be negative")
        if self.bcrypt_cost not in BCRYPT_COSTS:
            raise ConfigError("BZRSTORE_BCRYPT_COST must be from 4 to 31 (pgcrypto's range)")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigError(f"BZRSTORE_TRUSTED_PROXIES: {exc}") from exc
        if self.diff_timeout_seconds <= 0 or self.diff_max_bytes <= 0:
            raise ConfigError("BZRSTORE_DIFF_TIMEOUT_SECONDS and BZRSTORE_DIFF_MAX_BYTES "
                              "must be positive")
        if self.max_anonymous_body_bytes <= 0:
            raise ConfigError("BZRSTORE_MAX_ANONYMOUS_BODY_BYTES must be positive")
        if self.client_idle_seconds <= 0 or self.diff_max_file_bytes <= 0:
            raise ConfigError("BZRSTORE_CLIENT_IDLE_SECONDS and BZRSTORE_DIFF_MAX_FILE_BYTES "
                              "must be positive")
        if self.auth_max_failures < 1 or self.auth_failure_window_seconds <= 0:
            raise ConfigError("BZRSTORE_AUTH_MAX_FAILURES must be at least 1 and "
                              "BZRSTORE_AUTH_FAILURE_WINDOW_SECONDS positive")
        if self.page_cache_bytes < 0:
            raise ConfigError("BZRSTORE_PAGE_CACHE_BYTES must not be negative")
        if self.page_budget < 0 or self.page_budget_window_seconds <= 0:
            raise ConfigError("BZRSTORE_PAGE_BUDGET must not be negative and "
                              "BZRSTORE_PAGE_BUDGET_WINDOW_SECONDS must be positive")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("BZRSTORE_PUBLIC_URL must be an http:// or https:// URL")
        if self.database_url and not self.database_url.startswith(
            ("postgresql://", "postgres://")
        ):
            raise ConfigError("BZRSTORE_DATABASE_URL must be a postgresql:// URL")

    @property
    def repos_dir(self) -> Path:
        """Where the shared repositories live, one directory per codebase."""
        return self.repos.absolute() if str(self.repos) not in ("", ".") else self.data / "repos"

    @property
    def anonymous_body_bytes(self) -> int:
        """The body limit of a request without credentials (never above the general one)."""
        return min(self.max_anonymous_body_bytes, self.max_body_bytes)

    @property
    def run_dir(self) -> Path:
        """Per-node state shared by this node's worker processes."""
        return self.runtime_dir if str(self.runtime_dir) not in ("", ".") else self.data / "run"

    @property
    def sqlite_path(self) -> Path:
        """The embedded registry's database file."""
        return self.data / "bzrstore.sqlite3"
