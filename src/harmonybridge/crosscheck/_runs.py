"""Cross-check the Python and R engines on the same cells.

Exact equality is impossible (the engines' random number generators differ) and a fixed
threshold says little, so each engine runs under several seeds, and the distance between
engines is compared with each engine's own spread across seeds:

    the engines agree on a metric when  gap(between) <= MARGIN x worst gap(within) + floor

where gap is 1 - similarity (per-PC r, kNN overlap, ARI, NMI) or the distance itself
(relative L2), "between" is the median over all Python x R seed pairs and "within" the worst
pair of seeds inside either engine. The verdict is "agree" when every metric agrees.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge import _rbridge
from harmonybridge import metrics as _metrics
from harmonybridge._core import checks as _check
from harmonybridge._core.warnings import pkg_version, said_once, warn
from harmonybridge.harmony.engines import EngineResult, from_anndata, run_engine
from harmonybridge.harmony.params import HarmonyParams
from harmonybridge.metrics import NeighborGraph, sample_cells
from harmonybridge.report import crosscheck_html, engine_override_warnings, overrides_text, text_table

from ._agreement import (
    ENGINE_LABELS,
    FLOORS,
    MARGIN,
    N_NEIGHBORS,
    Run,
    agreement_table,
    check_engines,
    engine_versions,
    pair_metrics,
    pair_name,
    param_differences,
    plain_value,
    spread_warnings,
)

logger = logging.getLogger("harmonybridge")

#: above this many cells, the neighbour graphs (kNN overlap, Leiden) and the UMAPs use one seeded
#: sample of this many cells, the same for every embedding (exact kNN costs cells^2)
GRAPH_CELLS = 20_000
#: LISI and silhouette (cells^2 as well) on a seeded sample of this many cells
SCORE_CELLS = 10_000


@dataclass
class CrossCheckReport:
    """What :func:`cross_check` found. ``passed`` is the verdict (every pair of engines agrees);
    ``tables`` the figures behind it, one per pair (``table`` is the first pair's)."""

    passed: bool
    table: pd.DataFrame
    integration: pd.DataFrame
    pairs: dict[str, list[dict[str, float]]]
    versions: dict[str, str]
    params: dict[str, Any]
    meta: dict[str, Any]
    convergence: dict[str, list[float]]
    timings: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    param_differences: dict[str, dict[str, list]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    figure_data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str:
        return "agree" if self.passed else "disagree"

    @property
    def engines(self) -> list[str]:
        return list(self.meta.get("engines", ["python", "r"]))

    def sampling_note(self) -> str:
        """What ran on a sample of the cells, or "" when everything used every cell."""
        m = self.meta
        n, graph, score = m["n_cells"], m.get("graph_cells", m["n_cells"]), m.get("score_cells", m["n_cells"])
        parts = []
        if graph < n:
            parts.append(
                f"neighbour graphs (kNN overlap, Leiden) and UMAPs on a seeded sample of {graph:,} of {n:,} cells"
            )
        if score < n:
            parts.append(f"LISI and silhouette on {score:,} cells")
        return "; ".join(parts) + ("; per-PC r and relative L2 on all cells" if parts else "")

    def pair_verdicts(self) -> dict[str, str]:
        """Each pair of engines: "agree" or "disagree"."""
        return {name: "agree" if (t["agree"] == "yes").all() else "disagree" for name, t in self.tables.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        first = next(iter(self.tables))
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "rule": f"for every pair of engines: between-engine gap <= {MARGIN} x worst within-engine gap of either "
            "+ floor (gap = 1 - similarity, or the distance)",
            "engines": self.engines,
            "pair_verdicts": self.pair_verdicts(),
            "agreement": json.loads(self.table.to_json(orient="index")),
            "agreement_by_pair": {name: json.loads(t.to_json(orient="index")) for name, t in self.tables.items()},
            "first_pair": first,
            "parameter_differences": self.param_differences,
            "integration": json.loads(self.integration.to_json(orient="index")),
            "pairs": self.pairs,
            "versions": self.versions,
            "params": self.params,
            "meta": self.meta,
            "convergence": self.convergence,
            "timings_seconds": self.timings,
            "warnings": self.warnings,
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=float)

    def __repr__(self) -> str:
        m, v = self.meta, self.versions
        names = " vs ".join(ENGINE_LABELS[e] for e in self.engines)
        lines = [
            f"harmonybridge cross-check: engines {self.verdict.upper()} "
            f"({m['n_cells']} cells x {m['n_pcs']} PCs, batch {m['batch_key']!r}, {m['n_seeds']} seeds per engine)",
            f"  {names}",
            "  " + engine_versions(v, self.engines),
            f"  {overrides_text(m.get('overrides', {}), m.get('engine_overrides', {}))}",
            *([f"  Seurat path: {m['seurat_path']}"] if m.get("seurat_path") else []),
            *(f"  WARNING: {w}" for w in self.warnings),
        ]
        if self.sampling_note():
            lines.append(f"  {self.sampling_note()}")
        verdicts = self.pair_verdicts()
        for name, table in self.tables.items():
            lines += ["", f"  {name}: {verdicts[name]}", text_table(table, float_fmt="{:.4f}")]
            diff = self.param_differences.get(name)
            if diff:
                lines.append("  parameters that differ: " + ", ".join(f"{k} {v[0]} vs {v[1]}" for k, v in diff.items()))
        lines += ["", text_table(self.integration, float_fmt="{:.3f}")]
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained page (figures embedded) that a person can read at a glance."""
        return crosscheck_html(self)


@said_once  # a cause is said once, not once per engine run and seed
def cross_check(
    adata: AnnData,
    batch_key: str | Sequence[str],
    *,
    label_key: str | None = None,
    n_seeds: int = 3,
    basis: str = "X_pca",
    engines: Sequence[str] = ("python", "r"),
    python_params: dict | None = None,
    r_params: dict | None = None,
    seurat_params: dict | str = "seurat",
    dask_params: dict | None = None,
    figures: bool = True,
    max_cells: int | None = GRAPH_CELLS,
    r_engine: Callable[[HarmonyParams], EngineResult] | None = None,
    **params: Any,
) -> CrossCheckReport:
    """Run each engine with the same explicit parameters under ``n_seeds`` seeds and compare every pair.

    ``engines`` names the Harmony paths: ``"python"`` (harmonypy), ``"r"`` (R's RunHarmony) and
    ``"seurat"`` (Seurat 5's ``IntegrateLayers(method = HarmonyIntegration)``, needs Seurat 5).
    ``params`` are :class:`HarmonyParams` fields shared by the engines (``random_state`` is the
    first seed; the others follow it); ``python_params``, ``r_params`` and ``dask_params`` override them for one
    engine only, e.g. to show that a planted difference is caught. ``seurat_params="seurat"``
    runs the Seurat path with Seurat's own defaults (what its users get); a dict runs it with
    harmonybridge's parameters plus those overrides. The report says which parameters differ
    between the paths. ``adata`` is not modified.

    Each embedding gets one neighbour graph (exact kNN), shared by the kNN-overlap metric, Leiden
    and the figures' UMAP. Above ``max_cells`` cells (None: never) that graph is built on one
    seeded sample of ``max_cells`` cells, the same for every embedding; LISI and silhouette use
    ``SCORE_CELLS``; per-PC r and relative L2 always use every cell. The report says so. Each
    step is logged (logger ``harmonybridge``, INFO) with the time elapsed.

    ``r_engine`` replaces the R engine (R harmony through rpy2): it gets one seed's resolved
    parameters and returns that run. The R package passes one that runs ``RunHarmony`` in the
    calling R process (rpy2 cannot start R inside R; see ``harmonybridge.rpackage``).
    """
    t_all = time.perf_counter()
    timings: dict[str, float] = {}

    def step(message: str, *args: Any) -> None:
        logger.info("cross-check [%7.1f s] " + message, time.perf_counter() - t_all, *args)

    engines = check_engines(engines)
    keys = _check.batch_keys(adata, batch_key)
    _check.unique_cells(adata.obs_names)
    _check.batch_frame(adata, keys)
    labels = _check.obs_key(adata, label_key) if label_key is not None else None
    if n_seeds < 2:
        msg = f"n_seeds must be at least 2 to measure each engine's spread, got {n_seeds}"
        raise ValueError(msg)
    _check.cells_for_neighbors(adata.n_obs, N_NEIGHBORS, "nearest neighbours (the cross-check compares them)")
    if max_cells is not None and max_cells < 2 * N_NEIGHBORS:
        msg = f"max_cells must be None or at least {2 * N_NEIGHBORS}, got {max_cells!r}"
        raise ValueError(msg)
    if not (seurat_params == "seurat" or isinstance(seurat_params, dict)):
        msg = f"seurat_params must be 'seurat' (Seurat's own defaults) or a dict of overrides, got {seurat_params!r}"
        raise ValueError(msg)
    if ("r" in engines and r_engine is None) or "seurat" in engines:
        _rbridge.require("harmony")  # fail before any work when an R engine cannot run
    seurat_path = None
    if "seurat" in engines:
        from harmonybridge.harmony.engines import require_seurat_path

        if len(keys) != 1:
            msg = f"the seurat engine corrects one batch column (the layers of a split Seurat 5 assay), got {keys}"
            raise ValueError(msg)
        seurat_path = require_seurat_path()
    base = HarmonyParams(**params)
    first_seed = base.random_state
    overrides = {
        "python": python_params or {},
        "r": r_params or {},
        "seurat": seurat_params if isinstance(seurat_params, dict) else {},
        "dask": dask_params or {},
    }
    engine_params = {e: base.replace(**overrides[e]) for e in engines}
    shared = base.resolve(adata.n_obs, len(keys))
    applied = {
        engine: {
            k: {"engine": plain_value(getattr(engine_params[engine], k)), "shared": plain_value(getattr(shared, k))}
            for k in overrides[engine]
        }
        for engine in engines
    }
    runs: dict[str, list[Run]] = {}
    for engine in engines:
        t0 = time.perf_counter()
        runs[engine] = []
        for i in range(n_seeds):
            p = engine_params[engine].replace(random_state=first_seed + i)
            step("%s engine, seed %d (%d of %d)", engine, p.random_state, i + 1, n_seeds)
            if engine == "seurat":
                from harmonybridge.harmony.engines import run_seurat

                res = run_seurat(
                    _check.embedding(adata, basis),
                    _check.batch_frame(adata, keys),
                    keys,
                    None if seurat_params == "seurat" else p,
                    random_state=p.random_state,
                    path=seurat_path,
                )
            elif engine == "r" and r_engine is not None:
                _check.embedding(adata, basis)
                res = r_engine(p.resolve(adata.n_obs, len(keys)))
            else:
                res = run_engine(from_anndata(adata, keys, basis), engine, p)
            runs[engine].append(Run(engine, p.random_state, np.asarray(res.embedding, dtype=np.float64), res.record()))
        timings[f"harmony_{engine}"] = time.perf_counter() - t0
    every = [run for engine in engines for run in runs[engine]]
    sample = sample_cells(adata.n_obs, max_cells, random_state=0)
    on_sample = (lambda X: X) if sample is None else (lambda X: X[sample])
    rows_of = (lambda s: s) if sample is None else (lambda s: s.iloc[sample])
    n_graph = adata.n_obs if sample is None else len(sample)
    t0 = time.perf_counter()
    for i, run in enumerate(every):
        step(
            "neighbour graph %d of %d (%s, seed %d; %d cells, exact %d-NN)",
            i + 1,
            len(every),
            run.engine,
            run.seed,
            n_graph,
            N_NEIGHBORS,
        )
        run.graph = NeighborGraph.search(on_sample(run.embedding), N_NEIGHBORS)
    timings["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, run in enumerate(every):
        step("Leiden %d of %d (%s, seed %d), on its neighbour graph", i + 1, len(every), run.engine, run.seed)
        run.clusters = run.graph.leiden(random_state=0)
    timings["leiden"] = time.perf_counter() - t0

    step("agreement metrics, every pair of runs")
    t0 = time.perf_counter()
    pairs: dict[str, list[dict[str, float]]] = {}
    for engine in engines:
        pairs[f"within_{engine}"] = [pair_metrics(a, b) for a, b in itertools.combinations(runs[engine], 2)]
    tables = {}
    for a, b in itertools.combinations(engines, 2):
        name = pair_name(a, b)
        pairs[name] = [pair_metrics(x, y) for x, y in itertools.product(runs[a], runs[b])]
        tables[name] = agreement_table(a, b, pairs[name], pairs[f"within_{a}"], pairs[f"within_{b}"])
    timings["pair_metrics"] = time.perf_counter() - t0
    table = next(iter(tables.values()))
    passed = all(bool((t["agree"] == "yes").all()) for t in tables.values())
    spread = spread_warnings(tables)
    for text in spread:
        warn(text)

    step("integration metrics (LISI, silhouette and clusters vs labels on up to %d cells)", SCORE_CELLS)
    t0 = time.perf_counter()
    first = {engine: runs[engine][0] for engine in engines}
    conditions = {
        "uncorrected": np.asarray(_check.embedding(adata, basis), dtype=np.float64),
        **{engine: first[engine].embedding for engine in engines},
    }
    batch_labels = adata.obs[keys[0]]
    columns = {f"batch LISI ({keys[0]})": batch_labels}
    if labels is not None:
        columns[f"label LISI ({label_key})"] = labels
    label_sample = None if labels is None else rows_of(labels).to_numpy()
    integ = []
    for name, X in conditions.items():
        row: dict[str, Any] = {"condition": name, **_metrics.median_lisis(X, columns, max_cells=SCORE_CELLS)}
        if labels is not None:
            if name == "uncorrected":
                clusters = NeighborGraph.search(on_sample(X), N_NEIGHBORS).leiden(random_state=0)
            else:
                clusters = first[name].clusters
            row["silhouette (labels)"] = _metrics.silhouette(X, labels.to_numpy(), max_cells=SCORE_CELLS)
            row["ARI clusters vs labels"] = _metrics.compare_clusterings(clusters, label_sample)["ari"]
        integ.append(row)
    integration = pd.DataFrame(integ).set_index("condition")
    timings["integration_metrics"] = time.perf_counter() - t0

    versions: dict[str, str] = {}
    for engine in engines:
        versions.update({k: str(v) for k, v in first[engine].record["versions"].items()})
    versions.update({"harmonybridge": pkg_version("harmonybridge") or "", "scanpy": pkg_version("scanpy") or ""})
    records = {engine: first[engine].record["params"] for engine in engines}  # what each engine really ran
    by_engine = {engine: dict(first[engine].record.get("overrides") or {}) for engine in engines}
    for text in engine_override_warnings(by_engine, ENGINE_LABELS):  # once per cause, not once per seed
        warn(text)
        spread.insert(0, text)
    report = CrossCheckReport(
        passed=passed,
        table=table,
        integration=integration,
        pairs=pairs,
        versions=versions,
        params={
            **records,
            "seeds": [first_seed + i for i in range(n_seeds)],
            **(
                {"seurat_defaults": "seurat" if seurat_params == "seurat" else "harmonybridge"}
                if "seurat" in engines
                else {}
            ),
        },
        meta={
            "n_cells": adata.n_obs,
            "n_pcs": first[engines[0]].embedding.shape[1],
            "batch_key": keys[0] if len(keys) == 1 else keys,
            "label_key": label_key,
            "n_seeds": n_seeds,
            "basis": basis,
            "n_neighbors": N_NEIGHBORS,
            "margin": MARGIN,
            "floors": FLOORS,
            "engines": engines,
            "engine_labels": {e: ENGINE_LABELS[e] for e in engines},
            "graph_cells": n_graph,
            "score_cells": min(SCORE_CELLS, adata.n_obs),
            "sample_seed": 0,
            "overrides": applied,
            "engine_overrides": by_engine,
            **({"seurat_path": seurat_path.note} if seurat_path is not None and seurat_path.note else {}),
        },
        convergence={
            engine: first[engine].record["objective"].tolist()
            for engine in engines
            if len(first[engine].record["objective"])
        },
        timings=timings,
        tables=tables,
        param_differences=param_differences(records),
        warnings=spread,
    )
    if figures:
        step("UMAPs for the figures, on the neighbour graphs of each engine's first seed")
        t0 = time.perf_counter()
        umaps = {engine: first[engine].graph.umap(random_state=0) for engine in engines}
        report.figure_data = {
            "umaps": umaps,
            "engines": list(engines),
            "embeddings": {e: first[e].embedding for e in engines},
            "batch": rows_of(batch_labels),
            "labels": None if labels is None else rows_of(labels),
        }
        timings["umap_for_figures"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    step("done: %s", report.verdict)
    return report
