"""Dependencies you can reproduce: the lock files are current (written from requirements*.txt as they are
now), hash every package, split runtime from tests; and every package the code imports is declared —
the production code's in requirements.txt (runtime), the tests' and benchmarks' in one of the files."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import ROOT

PROJECT = {"core", "blockdata", "credentials", "intake", "gate_bridge", "ingest", "analytics", "residents", "layers",
           "dashboard", "demo", "ops", "city", "app", "cli", "bench", "tests"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==", re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*files: str) -> set[str]:
    return {_norm(m.group(1)) for f in files for m in PIN.finditer((ROOT / f).read_text())}


def _imports(folders: list[str]) -> dict[str, set[str]]:
    """Third-party top-level modules imported by the code in ``folders`` → the files importing them."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        paths = [ROOT / folder] if folder.endswith(".py") else sorted((ROOT / folder).rglob("*.py"))
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    mods = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods = [node.module.split(".")[0]]
                else:
                    continue
                for mod in mods:
                    if mod not in sys.stdlib_module_names and mod not in PROJECT and mod != "__future__":
                        found.setdefault(mod, set()).add(str(path.relative_to(ROOT)))
    return found


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> list[str]:
    dists = packages_distributions()
    missing = []
    for mod, files in sorted(imports.items()):
        names = {_norm(d) for d in dists.get(mod, [mod])}
        if not names & declared:
            missing.append(f"{mod} (from {sorted(names)}), imported by {sorted(files)[0]}")
    return missing


def test_the_lock_files_are_current() -> None:
    done = subprocess.run(["scripts/lock.sh", "check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr.strip()


def test_every_locked_package_has_hashes_and_tests_are_apart_from_runtime() -> None:
    for lock in ("requirements.lock", "requirements-test.lock", "requirements-nodeps.lock"):
        text = (ROOT / lock).read_text()
        entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 1)[1])
        pinned = [e for e in entries if PIN.match(e)]
        assert pinned, lock
        assert all("--hash=sha256:" in e for e in pinned), f"{lock}: a package without a hash"
    runtime, test = _declared("requirements.lock"), _declared("requirements-test.lock")
    assert {"pytest", "playwright", "schemathesis", "hypothesis"}.isdisjoint(runtime)
    assert runtime < test
    assert {"gunicorn", "prometheus-client", "starlette", "flask"} <= runtime


def test_production_code_imports_only_runtime_packages() -> None:
    stages = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name in PROJECT - {"bench", "tests"})
    missing = _undeclared(_imports([*stages, "app.py", "cli.py"]), _declared("requirements.txt", "requirements-nodeps.txt"))
    assert missing == [], "declare these in requirements.txt: " + "; ".join(missing)


def test_tests_and_benchmarks_import_only_declared_packages() -> None:
    declared = _declared("requirements.txt", "requirements-test.txt", "requirements-nodeps.txt")
    missing = _undeclared(_imports(["tests", "bench"]), declared)
    assert missing == [], "declare these in requirements-test.txt: " + "; ".join(missing)


def test_the_check_finds_an_undeclared_import(tmp_path: Path) -> None:
    """starlette was imported but declared nowhere before; the check would have said so."""
    assert _undeclared({"starlette": {"gate_bridge/api.py"}}, {"fastapi"}) != []
    assert _undeclared({"yaml": {"tests/x.py"}}, {"pyyaml"}) == []
