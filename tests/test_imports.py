"""The import contracts in pyproject.toml hold: layers, Flask and Breezy kept out, no cycles.

Each contract is one test, checked in-process by import-linter (``lint-imports`` runs the
same ones); a broken contract fails with import-linter's report of the offending chains.
"""

from __future__ import annotations

import tomllib

import pytest
from importlinter import configuration
from importlinter.application.use_cases import lint_imports

from servers import ROOT

# What the `lint-imports` command does first: plug in its config readers and printer.
configuration.configure()

PYPROJECT = ROOT / "pyproject.toml"
CONTRACTS = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]


def test_every_contract_has_an_id():
    assert all(contract.get("id") for contract in CONTRACTS)


@pytest.mark.parametrize("contract", [c["id"] for c in CONTRACTS])
def test_import_contract_is_kept(contract: str, capfd: pytest.CaptureFixture[str]):
    kept = lint_imports(config_filename=str(PYPROJECT), limit_to_contracts=(contract,),
                        cache_dir=None, no_logo=True)
    report = capfd.readouterr().out
    assert kept, f"import contract {contract!r} is broken:\n{report}"
