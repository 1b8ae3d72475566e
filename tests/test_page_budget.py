"""The per-client budget of expensive pages: units per window, shared through one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bzrstore.page_budget import COSTS, OverBudget, PageBudget, client_key
from helpers import WallClock

UNITS = 6
WINDOW_SECONDS = 60.0


@pytest.fixture
def budget(tmp_path: Path, clock: WallClock) -> PageBudget:
    return PageBudget(tmp_path / "run", UNITS, WINDOW_SECONDS, clock)


def test_over_budget_is_429_with_retry_after_until_the_oldest_unit_leaves(budget, clock):
    for _ in range(UNITS):
        budget.spend("198.51.100.7", "annotate")
        clock.now += 5
    with pytest.raises(OverBudget) as refused:
        budget.spend("198.51.100.7", "compare")
    response = refused.value.get_response()
    assert response.status_code == 429
    # The first unit was spent 30 s ago: it leaves the window in 30 s.
    assert response.headers["Retry-After"] == str(int(WINDOW_SECONDS - UNITS * 5))
    assert "try again in 30 s" in refused.value.description
    budget.spend("198.51.100.8", "annotate")  # another client has its own budget
    clock.now += 30
    budget.spend("198.51.100.7", "annotate")  # one unit has left the window


def test_a_refused_page_spends_nothing(budget, clock):
    for _ in range(UNITS):
        budget.spend("192.0.2.1", "changes")
    for _ in range(20):
        with pytest.raises(OverBudget):
            budget.spend("192.0.2.1", "changes")
    clock.now += WINDOW_SECONDS + 0.1
    for _ in range(UNITS):  # the whole budget is back: refusals were not counted
        budget.spend("192.0.2.1", "changes")


def test_a_tarball_costs_its_units(budget):
    assert COSTS["tarball"] == 5
    budget.spend("192.0.2.1", "tarball")
    budget.spend("192.0.2.1", "annotate")
    with pytest.raises(OverBudget):
        budget.spend("192.0.2.1", "tarball")  # 6 + 5 > 6
    with pytest.raises(OverBudget):
        budget.spend("192.0.2.1", "annotate")


def test_a_budget_below_a_page_cost_still_lets_one_through(tmp_path, clock):
    budget = PageBudget(tmp_path, 2, WINDOW_SECONDS, clock)
    budget.spend("192.0.2.1", "tarball")
    with pytest.raises(OverBudget):
        budget.spend("192.0.2.1", "annotate")


def test_workers_share_the_budget_through_the_file(tmp_path, clock):
    one, other = (PageBudget(tmp_path, UNITS, WINDOW_SECONDS, clock) for _ in range(2))
    for _ in range(UNITS // 2):
        one.spend("192.0.2.1", "annotate")
        other.spend("192.0.2.1", "annotate")
    with pytest.raises(OverBudget):
        one.spend("192.0.2.1", "annotate")


def test_zero_units_turns_the_budget_off(tmp_path, clock):
    budget = PageBudget(tmp_path / "run", 0, WINDOW_SECONDS, clock)
    for _ in range(100):
        budget.spend("192.0.2.1", "tarball")
    assert not (tmp_path / "run").exists()  # nothing was even counted


def test_an_unusable_file_lets_pages_through(tmp_path, clock, caplog):
    (tmp_path / "run").write_text("a file where the directory should be")
    budget = PageBudget(tmp_path / "run", 1, WINDOW_SECONDS, clock)
    for _ in range(3):
        budget.spend("192.0.2.1", "annotate")
    assert "unreadable" in caplog.text


@pytest.mark.parametrize(("address", "key"), [
    ("192.0.2.1", "addr:192.0.2.1"),
    ("2001:db8:1:2:aaaa::1", "net:2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::99", "net:2001:db8:1:2::/64"),  # same /64, same budget
    ("::ffff:192.0.2.1", "addr:192.0.2.1"),  # a v4 client on a dual-stack socket
    ("", "other:"),
    ("/run/bzrstore.sock", "other:/run/bzrstore.sock"),
])
def test_client_key(address, key):
    assert client_key(address) == key


def test_an_ipv6_host_rotating_its_address_stays_in_one_budget(budget):
    for n in range(UNITS):
        budget.spend(f"2001:db8::{n + 1:x}", "annotate")
    with pytest.raises(OverBudget):
        budget.spend("2001:db8::ffff", "annotate")
    budget.spend("2001:db8:0:1::1", "annotate")  # the next /64 is someone else
