"""The direction of dependencies is checked, not just written down: `lint-imports` (run by
`make lint`) keeps the layers contract and the no-cycles contract of pyproject.toml, and fails
on a wrong-way import or a cycle put into a copy of the tree."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["pytake", "conversations", "accounts", "realtime", "flow", "webchat", "whatsapp", "simulator"]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the product packages and pyproject.toml, to break on purpose."""
    for app in APPS:
        shutil.copytree(ROOT / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_both_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_wrong_way_import_fails(tree: Path) -> None:
    with (tree / "conversations" / "selectors.py").open("a") as module:
        module.write("\nfrom flow import queue  # noqa\n")  # the domain reaching up to the flow
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "conversations is not allowed to import flow" in result.stdout


def test_a_cycle_inside_an_app_fails_even_from_inside_a_function(tree: Path) -> None:
    with (tree / "conversations" / "models.py").open("a") as module:
        module.write("\n\ndef probe():\n    from conversations import access  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert ".models -> .access" in result.stdout
