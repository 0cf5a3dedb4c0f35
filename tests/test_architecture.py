"""The layout's rules, read from the source: rpy2 in _rbridge only, imports one way (no cycle),
no module using another module's private names, no module over about 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "harmonybridge"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, relative ones resolved."""
    mod = _module(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((base, [a.name for a in node.names]))
    return out


FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module(p) for p in FILES}


def _target(base: str, name: str) -> str:
    """The harmonybridge module an import refers to (``from . import x`` names a module)."""
    return f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def test_rpy2_is_imported_by_rbridge_only():
    offenders = [
        str(p.relative_to(SRC))
        for p in FILES
        if not _module(p).startswith("harmonybridge._rbridge")
        and any(base.split(".")[0] == "rpy2" for base, _ in _imports(p))
    ]
    assert offenders == []


def test_no_import_cycle():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for p in FILES:
        mod = _module(p)
        for base, names in _imports(p):
            for target in {_target(base, n) for n in names} or {base}:
                # a package's __init__ re-exports its own modules; that is not an upward import
                if target in MODULES and target != mod and not target.startswith(mod + "."):
                    graph[mod].add(target)
    # a module importing its own package's __init__ only reaches the re-exports: drop those edges
    for mod in graph:
        graph[mod] = {t for t in graph[mod] if not mod.startswith(t + ".")}
    seen: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        if seen.get(m) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*path, m])}")
        if seen.get(m) == 2:
            return
        seen[m] = 1
        for t in sorted(graph[m]):
            visit(t, [*path, m])
        seen[m] = 2

    for m in sorted(graph):
        visit(m, [])


def test_no_private_names_of_other_modules():
    """``from x import _name`` only within one package (a package's own private modules are fine)."""
    offenders = []
    for p in FILES:
        mod = _module(p)
        home = mod if p.name == "__init__.py" else mod.rpartition(".")[0]
        for base, names in _imports(p):
            if not base.startswith("harmonybridge"):
                continue
            for n in names:
                target = _target(base, n)
                private_name = n.startswith("_") and target == base  # a private function or constant
                if private_name and not base.startswith(home) and base != "harmonybridge._core.warnings":
                    offenders.append(f"{mod}: {base}.{n}")
    assert offenders == []


def test_no_module_over_about_400_lines():
    long = {str(p.relative_to(SRC)): n for p in FILES if (n := len(p.read_text().splitlines())) > 420}
    assert long == {}
