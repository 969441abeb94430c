"""The import contracts in pyproject.toml hold on the tree, and break when a layer is crossed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_of_tree(destination: Path) -> Path:
    for package in ("services", "shared", "devtools", "examples"):
        shutil.copytree(
            ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree, env=environment, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_the_contracts_are_kept_by_the_tree(tmp_path: Path) -> None:
    result = _lint_imports(_copy_of_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "refusal"),
    [
        (
            "services/mastery/core/projection.py",
            "import services.mastery.adapters.read_model",
            "services.mastery.core is not allowed to import services.mastery.adapters",
        ),
        (
            "services/attempts/core/recording.py",
            "import services.attempts.app",
            "services.attempts.core is not allowed to import services.attempts.app",
        ),
        (
            "services/notify/core/messages.py",
            "import time",
            "services.notify.core is not allowed to import time",
        ),
        (
            "services/mastery/core/tally.py",
            "import random",
            "services.mastery.core is not allowed to import random",
        ),
        (
            "shared/contract/ids.py",
            "import shared.platform.postgres",
            "shared.contract is not allowed to import shared.platform",
        ),
        (
            "shared/contract/grading.py",
            "import socket",
            "shared.contract is not allowed to import socket",
        ),
        (
            "services/attempts/adapters/http.py",
            "import services.notify.app",
            "services.attempts is not allowed to import services.notify",
        ),
        (
            "examples/sis_subscriber.py",
            "import shared.contract.cloudevents",
            "examples is not allowed to import shared",
        ),
    ],
)
def test_crossing_a_boundary_breaks_a_contract(
    tmp_path: Path, module: str, line: str, refusal: str
) -> None:
    tree = _copy_of_tree(tmp_path)
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # crossing on purpose\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert refusal in result.stdout, result.stdout
