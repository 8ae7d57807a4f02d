"""The rooms as ARCHITECTURE.md draws them: flows/ is Prefect's room, and the map names every
module (the one-way import rule itself is `lint-imports`, run by .ci/run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

ROOMS = ("flows", "transforms", "leads_import")


def _modules(room: str) -> list[Path]:
    return sorted(p for p in (REPO / room).rglob("*.py") if p.name not in ("__init__.py",))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules("flows"), ids=lambda p: p.name)
def test_every_module_of_flows_uses_prefect(path: Path) -> None:
    assert any(name.split(".")[0] == "prefect" for name in _imports(path)), (
        f"flows/{path.name} does not use Prefect: it belongs in another room (ARCHITECTURE.md)"
    )


def test_architecture_md_names_every_module() -> None:
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(REPO))
        for room in ROOMS
        for path in _modules(room)
        if path.name != "__main__.py" and path.name not in text
    ]
    assert missing == [], f"ARCHITECTURE.md does not name: {missing}"
