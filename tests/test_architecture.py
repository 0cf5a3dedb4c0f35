"""The layout's rules, read from the source: rpy2 in _rbridge only; no import cycle, counting the
imports a package's ``__init__`` makes; no module or R file reaching into another package's private
modules or names; imports going down the layer table of docs/architecture.md; the public API
shaped as scanpy's (``adata`` first, ``copy=`` returns an AnnData or None); one home per rule."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "harmonybridge"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    mod = _module(path)
    return mod if path.name == "__init__.py" else mod.rpartition(".")[0]


FILES = sorted(SRC.rglob("*.py"))
MODULES = {_module(p) for p in FILES}
TREES = {p: ast.parse(p.read_text()) for p in FILES}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import in the file, relative ones resolved."""
    package = _package(path)
    out = []
    for node in ast.walk(TREES[path]):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.append((base, [a.name for a in node.names]))
    return out


def _target(base: str, name: str) -> str:
    """The harmonybridge module an import refers to (``from . import x`` names a module)."""
    return f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def _graph() -> dict[str, set[str]]:
    """Module -> the harmonybridge modules it imports. Every edge counts, a package's ``__init__``
    included: importing ``harmonybridge.report`` runs ``report/__init__.py`` and what it imports."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for p in FILES:
        mod = _module(p)
        for base, names in _imports(p):
            for target in {_target(base, n) for n in names} or {base}:
                if target in MODULES and target != mod:
                    graph[mod].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    seen: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> list[str] | None:
        if seen.get(m) == 1:
            return [*path[path.index(m) :], m]
        if seen.get(m) == 2:
            return None
        seen[m] = 1
        for t in sorted(graph[m]):
            if found := visit(t, [*path, m]):
                return found
        seen[m] = 2
        return None

    for m in sorted(graph):
        if found := visit(m, []):
            return found
    return None


def test_rpy2_is_imported_by_rbridge_only():
    offenders = [
        str(p.relative_to(SRC))
        for p in FILES
        if not _module(p).startswith("harmonybridge._rbridge")
        and any(base.split(".")[0] == "rpy2" for base, _ in _imports(p))
    ]
    assert offenders == []


def test_no_import_cycle_through_any_init():
    """A module importing its own package's ``__init__`` closes a cycle too (use the sibling module)."""
    assert _cycle(_graph()) is None


def test_the_cycle_check_sees_a_cycle_through_an_init():
    """The check itself: files -> report (its __init__) -> report._figures -> files is a cycle."""
    graph = _graph()
    graph["harmonybridge._core.files"].add("harmonybridge.report")
    assert _cycle(graph) is not None


def _owner_ok(importer: str, target: str) -> bool:
    """Whether ``importer`` may import module ``target``: each private part of the target's dotted
    name (``_x``) is private to the package holding it, so the importer must live in that package."""
    parts = target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:i])
            if not (importer == owner or importer.startswith(owner + ".")):
                return False
    return True


def test_no_import_of_another_packages_private_module():
    offenders = []
    for p in FILES:
        mod = _module(p)
        for base, names in _imports(p):
            if not base.startswith("harmonybridge"):
                continue
            for target in {_target(base, n) for n in names} or {base}:
                if not _owner_ok(mod, target):
                    offenders.append(f"{mod}: {target}")
    assert offenders == []


def test_no_private_names_of_other_packages():
    """``from x import _name`` and ``module._name`` only within the package that defines it."""
    offenders = []
    for p in FILES:
        mod, home = _module(p), _package(p)
        aliases: dict[str, str] = {}
        for node in ast.walk(TREES[p]):
            if isinstance(node, ast.ImportFrom):
                (base, names) = _imports_of(node, p)
                if not base.startswith("harmonybridge"):
                    continue
                for a in node.names:
                    target = _target(base, a.name)
                    if target != base:  # a module: calls on it are checked below
                        aliases[a.asname or a.name] = target
                    elif a.name.startswith("_") and not (base == home or base.startswith(home + ".")):
                        offenders.append(f"{mod}: from {base} import {a.name}")
        for node in ast.walk(TREES[p]):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                target = aliases[node.value.id]
                owner = target.rpartition(".")[0] if target in MODULES and not _is_package(target) else target
                if not (home == owner or home.startswith(owner + ".")):
                    offenders.append(f"{mod}: {target}.{node.attr}")
    assert offenders == []


def _is_package(mod: str) -> bool:
    return (SRC.parent / mod.replace(".", "/") / "__init__.py").exists()


def _imports_of(node: ast.ImportFrom, path: Path) -> tuple[str, list[str]]:
    base = node.module or ""
    if node.level:
        package = _package(path)
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return base, [a.name for a in node.names]


def test_the_r_package_imports_no_private_python_module():
    """r/R/*.R reach Python through reticulate::import("harmonybridge.<public module>") only."""
    found = {
        f"{r.name}: {m}"
        for r in sorted((ROOT / "r" / "R").glob("*.R"))
        for m in re.findall(r"harmonybridge\.[\w.]+", r.read_text())
        if any(part.startswith("_") for part in m.split(".")[1:])
    }
    assert found == set()


def test_no_r_code_under_src():
    assert sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.R")) == []


def _layers() -> list[set[str]]:
    """The layer table of docs/architecture.md: ``| n | package, package |`` rows, top first."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", section, flags=re.M)
    return [{name.strip().strip("`") for name in names.split(",")} for _, names in rows]


def _top(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "harmonybridge"


def test_imports_go_down_the_documented_layers():
    layers = _layers()
    level = {name: i for i, names in enumerate(layers) for name in names}
    tops = {_top(m) for m in MODULES}
    assert tops <= set(level), f"packages missing from the layer table: {sorted(tops - set(level))}"
    upward = sorted(
        f"{_top(mod)} (layer {level[_top(mod)]}) imports {_top(t)} (layer {level[_top(t)]})"
        for mod, targets in _graph().items()
        for t in targets
        if _top(t) != _top(mod) and level[_top(t)] <= level[_top(mod)]
    )
    assert upward == []


#: public functions whose AnnData arguments have other names, and why
NOT_ADATA_FIRST = {
    "transfer_labels": "two AnnDatas, reference and query (scanpy's ingest: adata, adata_ref)",
    "run_store": "a zarr store or an .h5ad path as often as an AnnData (the out-of-core route)",
}
#: public functions with copy= that return something else, and why
COPY_RETURNS_OTHER = {
    "call_seurat": "returns the R function's value, or {assay: AnnData} when the call changed the object",
}


def _public_functions():
    import harmonybridge as hb

    return {n: getattr(hb, n) for n in hb.__all__ if inspect.isfunction(getattr(hb, n))}


def test_public_functions_take_adata_first():
    offenders = []
    for name, f in _public_functions().items():
        params = list(inspect.signature(f).parameters.values())
        takes_anndata = [p.name for p in params if "AnnData" in str(p.annotation)]
        if takes_anndata and params[0].name != "adata" and name not in NOT_ADATA_FIRST:
            offenders.append(f"{name}({params[0].name}, ...)")
    assert offenders == []


def test_copy_returns_anndata_or_none():
    offenders = []
    for name, f in _public_functions().items():
        sig = inspect.signature(f)
        if "copy" in sig.parameters and name not in COPY_RETURNS_OTHER:
            if str(sig.return_annotation).replace(" ", "") not in ("AnnData|None", "Optional[AnnData]"):
                offenders.append(f"{name} -> {sig.return_annotation}")
            if sig.parameters["copy"].default is not False:
                offenders.append(f"{name}: copy defaults to {sig.parameters['copy'].default!r}")
    assert offenders == []


@pytest.mark.parametrize(
    ("pattern", "home"),
    [
        (r"def is_counts\b", "_core/counts.py"),
        (r"replace\(\"_\", \"-\"\)\.replace\(\"\|\", \"-\"\)", "convert/_names.py"),  # Seurat's feature names
        (r"\"--seed\" if", "harmony/params.py"),  # the command's flag for a parameter
        (r"sc\.tl\.leiden\(", "metrics/_neighbors.py"),
        (r"\"X_pca_harmony\"\)?:? *\(", "convert/_names.py"),  # the reduction name map
    ],
)
def test_each_rule_has_one_home(pattern, home):
    homes = sorted(str(p.relative_to(SRC)) for p in FILES if re.search(pattern, p.read_text()))
    assert homes == [home]
