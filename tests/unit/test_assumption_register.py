"""Every module that makes an ASSUMPTION about Kaleyra points to the one register, which names it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "airflow_provider_kaleyra"
REGISTER = ROOT / "docs" / "assumptions.md"


def modules_with_assumptions() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "simulator" not in path.parts and "ASSUMPTION" in path.read_text(encoding="utf-8")
    )


def test_each_module_with_an_assumption_points_to_the_register_and_is_listed_there() -> None:
    register = REGISTER.read_text(encoding="utf-8")
    modules = modules_with_assumptions()
    assert modules, "no ASSUMPTION found in the package: the register would list nothing"
    for path in modules:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        points = "docs/assumptions.md" in " ".join(docstring.split())
        assert points, f"{path.name}'s docstring does not point to the register"
        assert f"`{path.name}`" in register, f"{path.name} makes assumptions the register does not name"
