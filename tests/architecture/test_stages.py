"""The stage chain as drawn in README and docs/ARCHITECTURE.md: a stage imports only the stages below it.

Parsed from the source (every ``import`` and ``from … import``, also those inside functions), so an
import that runs up the chain fails here even when it is only reached at run time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each stage may import (besides itself). ingest and gate_bridge are siblings: they share only the
# stream contract in core/. demo (the synthetic street, the simulator) is imported by no production stage.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "blockdata": {"core"},
    "credentials": {"core"},
    "intake": {"core", "blockdata"},
    "gate_bridge": {"core", "blockdata", "credentials"},
    "ingest": {"core", "blockdata"},
    "analytics": {"core", "blockdata", "ingest"},
    "residents": {"core", "blockdata", "credentials", "analytics"},
    # city: the district servers through postgres_fdw and the city-level queries over them (issue #21, item 6).
    "city": {"core", "blockdata", "ingest", "analytics"},
    "layers": {"core", "blockdata", "ingest", "analytics"},
    "dashboard": {"core", "blockdata", "intake", "ingest", "analytics", "city", "layers"},
    "demo": {"core", "blockdata", "credentials", "intake", "gate_bridge", "ingest", "analytics"},
    # ops starts every production stage (serve, schedule, backup); nothing but the CLI imports it.
    "ops": {"core", "blockdata", "credentials", "intake", "gate_bridge", "ingest", "analytics", "residents", "city",
            "layers", "dashboard"},
}
STAGES = set(ALLOWED)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & STAGES


def _violations() -> list[str]:
    bad = []
    for stage, allowed in ALLOWED.items():
        for path in sorted((ROOT / stage).rglob("*.py")):
            for imported in _imports(path) - allowed - {stage}:
                bad.append(f"{path.relative_to(ROOT)} imports {imported}")
    return bad


def test_every_stage_imports_only_stages_below_it() -> None:
    assert _violations() == []


def test_the_check_sees_an_import_that_runs_up_the_chain(tmp_path: Path) -> None:
    """The parser finds imports inside functions too, the usual way a cycle sneaks in."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from dashboard.roles import may_open\n    import demo.synthetic\n")
    assert _imports(probe) == {"dashboard", "demo"}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_is_a_package_with_a_docstring(stage: str) -> None:
    """A newcomer reads what a stage holds from its __init__ docstring."""
    init = ROOT / stage / "__init__.py"
    assert init.exists(), f"{stage}/ is not a package"
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{stage}/__init__.py says nothing"
