"""The layer contracts in pyproject.toml hold for the code, and break when a module breaks them.

Each breach is planted in a copy of the package, so the test proves that ``make lint`` would fail on
it, not merely that the tree is clean today."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def lint(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    args = [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"]
    for contract in contracts:
        args += ["--contract", contract]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_the_code_keeps_every_contract() -> None:
    result = lint(ROOT / "src")
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("contract", "module", "line", "complaint"),
    [
        (
            "domain-no-io",
            "bnpl/domain/breach.py",
            "import sqlalchemy",
            "bnpl.domain is not allowed to import sqlalchemy",
        ),
        (
            "layers",
            "bnpl/runtime/breach.py",
            "import bnpl.services.orders",
            "bnpl.runtime is not allowed to import bnpl.services",
        ),
        (
            "layers",
            "bnpl/api/breach.py",
            "import bnpl.console",
            "bnpl.api is not allowed to import bnpl.console",
        ),
        (
            "front-ends-no-tables",
            "bnpl/console/breach.py",
            "import bnpl.store.tables",
            "bnpl.console is not allowed to import bnpl.store",
        ),
        ("acyclic", "bnpl/domain/breach.py", "import bnpl.runtime", "No cycles are allowed in bnpl"),
    ],
)
def test_a_planted_breach_fails_the_lint(
    tmp_path: Path, contract: str, module: str, line: str, complaint: str
) -> None:
    shutil.copytree(ROOT / "src" / "bnpl", tmp_path / "bnpl", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / module).write_text(line + "\n")
    result = lint(tmp_path, contract)
    assert result.returncode != 0
    assert complaint in result.stdout
