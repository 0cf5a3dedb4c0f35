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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge import _rbridge
from harmonybridge import metrics as _metrics
from harmonybridge._core import checks as _check
from harmonybridge._core.warnings import pkg_version, said_once, warn
from harmonybridge.harmony.engines import (
    EngineResult,
    HarmonyInput,
    from_anndata,
    require_seurat_path,
    run_engine,
    run_seurat,
)
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
            f"  {overrides_text(m.get('overrides', {}), m['engine_labels'], m.get('engine_overrides', {}))}",
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


@dataclass
class _Context:
    """What every step of one cross-check shares: the cells (``adata``, ``basis``, the batch ``keys``,
    and ``cells``, their Harmony input checked once), the labels, the engines and seeds, the seeded
    sample of cells the neighbour graphs use (None: every cell), the Seurat path, the timings, and the
    clock the step log reads."""

    adata: AnnData
    cells: HarmonyInput
    basis: str
    keys: list[str]
    label_key: str | None
    labels: pd.Series | None
    engines: list[str]
    n_seeds: int
    sample: np.ndarray | None
    seurat_path: Any  # harmony.engines.require_seurat_path()'s SeuratPath, or None without the seurat engine
    started: float
    timings: dict[str, float] = field(default_factory=dict)

    def step(self, message: str, *args: Any) -> None:
        """Log one step (logger ``harmonybridge``, INFO) with the time elapsed since the cross-check began."""
        logger.info("cross-check [%7.1f s] " + message, time.perf_counter() - self.started, *args)

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Record the seconds the block takes in ``timings[key]``."""
        t0 = time.perf_counter()
        yield
        self.timings[key] = time.perf_counter() - t0

    @property
    def n_graph(self) -> int:
        """How many cells the neighbour graphs (kNN overlap, Leiden, UMAP) are built on."""
        return self.adata.n_obs if self.sample is None else len(self.sample)

    def on_sample(self, X: np.ndarray) -> np.ndarray:
        """The rows of an embedding that the neighbour graphs use."""
        return X if self.sample is None else X[self.sample]

    def rows_of(self, s: pd.Series) -> pd.Series:
        """The cells of a per-cell column that the neighbour graphs use."""
        return s if self.sample is None else s.iloc[self.sample]


@dataclass
class _Agreement:
    """Every pair of runs compared: ``pairs`` (within each engine, between each pair of engines),
    one agreement ``tables`` per pair of engines, the verdict, and the seed-spread warnings."""

    pairs: dict[str, list[dict[str, float]]]
    tables: dict[str, pd.DataFrame]
    passed: bool
    warnings: list[str]


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
    started = time.perf_counter()
    ctx = _checked_inputs(
        adata,
        batch_key,
        label_key=label_key,
        n_seeds=n_seeds,
        basis=basis,
        engines=engines,
        seurat_params=seurat_params,
        max_cells=max_cells,
        r_engine=r_engine,
        started=started,
    )
    base = HarmonyParams(**params)
    seeds = [base.random_state + i for i in range(n_seeds)]
    overrides = {
        "python": python_params or {},
        "r": r_params or {},
        "seurat": seurat_params if isinstance(seurat_params, dict) else {},
        "dask": dask_params or {},
    }
    engine_params, applied = _engine_params(ctx, base, overrides)
    seurat_defaults = seurat_params == "seurat"
    runs = _run_engines(ctx, engine_params, seeds, seurat_defaults=seurat_defaults, r_engine=r_engine)
    _graphs(ctx, runs)
    agreement = _agreement(ctx, runs)
    integration = _integration(ctx, runs)
    report = _assemble_report(ctx, runs, agreement, integration, seeds, applied, seurat_defaults=seurat_defaults)
    if figures:
        report.figure_data = _figure_data(ctx, runs)
    ctx.timings["total"] = time.perf_counter() - started
    ctx.step("done: %s", report.verdict)
    return report


def _checked_inputs(
    adata: AnnData,
    batch_key: str | Sequence[str],
    *,
    label_key: str | None,
    n_seeds: int,
    basis: str,
    engines: Sequence[str],
    seurat_params: dict | str,
    max_cells: int | None,
    r_engine: Callable[[HarmonyParams], EngineResult] | None,
    started: float,
) -> _Context:
    """Every argument and input check, before any work (an R engine that cannot run fails here,
    not after the Python runs); the context the other steps share."""
    engines = check_engines(engines)
    keys = _check.batch_keys(adata, batch_key)
    cells = from_anndata(adata, keys, basis)  # checked once here, the same input for every engine and seed
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
        if len(keys) != 1:
            msg = f"the seurat engine corrects one batch column (the layers of a split Seurat 5 assay), got {keys}"
            raise ValueError(msg)
        seurat_path = require_seurat_path()
    return _Context(
        adata=adata,
        cells=cells,
        basis=basis,
        keys=keys,
        label_key=label_key,
        labels=labels,
        engines=engines,
        n_seeds=n_seeds,
        sample=sample_cells(adata.n_obs, max_cells, random_state=0),
        seurat_path=seurat_path,
        started=started,
    )


def _engine_params(
    ctx: _Context, base: HarmonyParams, overrides: dict[str, dict[str, Any]]
) -> tuple[dict[str, HarmonyParams], dict[str, dict[str, dict[str, Any]]]]:
    """Each engine's parameters (the shared ``base`` plus its own ``overrides``) and the table the
    report shows of those overrides: engine -> parameter -> {"engine": its value, "shared": base's}."""
    engine_params = {e: base.replace(**overrides[e]) for e in ctx.engines}
    shared = base.resolve(ctx.adata.n_obs, len(ctx.keys))
    applied = {
        engine: {
            k: {"engine": plain_value(getattr(engine_params[engine], k)), "shared": plain_value(getattr(shared, k))}
            for k in overrides[engine]
        }
        for engine in ctx.engines
    }
    return engine_params, applied


def _run_engines(
    ctx: _Context,
    engine_params: dict[str, HarmonyParams],
    seeds: list[int],
    *,
    seurat_defaults: bool,
    r_engine: Callable[[HarmonyParams], EngineResult] | None,
) -> dict[str, list[Run]]:
    """Each engine under each seed: engine -> its runs, in seed order. The one place that runs
    Harmony (``run_engine``, ``run_seurat`` with Seurat's own defaults when ``seurat_defaults``,
    and the caller's ``r_engine`` in place of R harmony through rpy2)."""
    cells = ctx.cells
    runs: dict[str, list[Run]] = {}
    for engine in ctx.engines:
        with ctx.timed(f"harmony_{engine}"):
            runs[engine] = []
            for i, seed in enumerate(seeds):
                p = engine_params[engine].replace(random_state=seed)
                ctx.step("%s engine, seed %d (%d of %d)", engine, p.random_state, i + 1, len(seeds))
                if engine == "seurat":
                    res = run_seurat(
                        cells.array(),
                        cells.batches,
                        cells.keys,
                        None if seurat_defaults else p,
                        random_state=p.random_state,
                        path=ctx.seurat_path,
                    )
                elif engine == "r" and r_engine is not None:
                    res = r_engine(p.resolve(cells.n_cells, len(cells.keys)))
                else:
                    res = run_engine(cells, engine, p)
                runs[engine].append(
                    Run(engine, p.random_state, np.asarray(res.embedding, dtype=np.float64), res.record())
                )
    return runs


def _graphs(ctx: _Context, runs: dict[str, list[Run]]) -> None:
    """Each run's neighbour graph (exact kNN on the shared sample of cells), then its Leiden
    clusters on that graph; set on the runs."""
    every = [run for engine in ctx.engines for run in runs[engine]]
    with ctx.timed("knn"):
        for i, run in enumerate(every):
            ctx.step(
                "neighbour graph %d of %d (%s, seed %d; %d cells, exact %d-NN)",
                i + 1,
                len(every),
                run.engine,
                run.seed,
                ctx.n_graph,
                N_NEIGHBORS,
            )
            run.graph = NeighborGraph.search(ctx.on_sample(run.embedding), N_NEIGHBORS)
    with ctx.timed("leiden"):
        for i, run in enumerate(every):
            ctx.step("Leiden %d of %d (%s, seed %d), on its neighbour graph", i + 1, len(every), run.engine, run.seed)
            run.clusters = run.graph.leiden(random_state=0)


def _agreement(ctx: _Context, runs: dict[str, list[Run]]) -> _Agreement:
    """The metrics of every pair of runs (within each engine, between each pair of engines), one
    agreement table per pair of engines, the verdict, and a warning (said once) when an engine's
    own seeds differ so widely that the verdict says little."""
    ctx.step("agreement metrics, every pair of runs")
    with ctx.timed("pair_metrics"):
        pairs: dict[str, list[dict[str, float]]] = {}
        for engine in ctx.engines:
            pairs[f"within_{engine}"] = [pair_metrics(a, b) for a, b in itertools.combinations(runs[engine], 2)]
        tables = {}
        for a, b in itertools.combinations(ctx.engines, 2):
            name = pair_name(a, b)
            pairs[name] = [pair_metrics(x, y) for x, y in itertools.product(runs[a], runs[b])]
            tables[name] = agreement_table(a, b, pairs[name], pairs[f"within_{a}"], pairs[f"within_{b}"])
    passed = all(bool((t["agree"] == "yes").all()) for t in tables.values())
    spread = spread_warnings(tables)
    for text in spread:
        warn(text)
    return _Agreement(pairs=pairs, tables=tables, passed=passed, warnings=spread)


def _first(runs: dict[str, list[Run]]) -> dict[str, Run]:
    """Each engine's first seed: the run the integration metrics, versions and figures use."""
    return {engine: engine_runs[0] for engine, engine_runs in runs.items()}


def _integration(ctx: _Context, runs: dict[str, list[Run]]) -> pd.DataFrame:
    """The integration table: the uncorrected embedding and each engine's first seed, by median
    batch (and label) LISI on up to ``SCORE_CELLS`` cells and, with labels, silhouette and the ARI
    of Leiden clusters (on the neighbour graph's cells) against the labels."""
    ctx.step("integration metrics (LISI, silhouette and clusters vs labels on up to %d cells)", SCORE_CELLS)
    with ctx.timed("integration_metrics"):
        first, labels = _first(runs), ctx.labels
        conditions = {
            "uncorrected": np.asarray(ctx.cells.array(), dtype=np.float64),
            **{engine: first[engine].embedding for engine in ctx.engines},
        }
        columns = {f"batch LISI ({ctx.keys[0]})": ctx.adata.obs[ctx.keys[0]]}
        if labels is not None:
            columns[f"label LISI ({ctx.label_key})"] = labels
        label_sample = None if labels is None else ctx.rows_of(labels).to_numpy()
        integ = []
        for name, X in conditions.items():
            row: dict[str, Any] = {"condition": name, **_metrics.median_lisis(X, columns, max_cells=SCORE_CELLS)}
            if labels is not None:
                if name == "uncorrected":
                    clusters = NeighborGraph.search(ctx.on_sample(X), N_NEIGHBORS).leiden(random_state=0)
                else:
                    clusters = first[name].clusters
                row["silhouette (labels)"] = _metrics.silhouette(X, labels.to_numpy(), max_cells=SCORE_CELLS)
                row["ARI clusters vs labels"] = _metrics.compare_clusterings(clusters, label_sample)["ari"]
            integ.append(row)
        integration = pd.DataFrame(integ).set_index("condition")
    return integration


def _assemble_report(
    ctx: _Context,
    runs: dict[str, list[Run]],
    agreement: _Agreement,
    integration: pd.DataFrame,
    seeds: list[int],
    applied: dict[str, dict[str, dict[str, Any]]],
    *,
    seurat_defaults: bool,
) -> CrossCheckReport:
    """The report: versions, what each engine really ran (and a warning, said once, per parameter
    an engine changed by itself), the overrides, the tables and the run's description."""
    engines, first = ctx.engines, _first(runs)
    versions: dict[str, str] = {}
    for engine in engines:
        versions.update({k: str(v) for k, v in first[engine].record["versions"].items()})
    versions.update({"harmonybridge": pkg_version("harmonybridge") or "", "scanpy": pkg_version("scanpy") or ""})
    records = {engine: first[engine].record["params"] for engine in engines}  # what each engine really ran
    by_engine = {engine: dict(first[engine].record.get("overrides") or {}) for engine in engines}
    warned = list(agreement.warnings)
    for text in engine_override_warnings(by_engine, ENGINE_LABELS):  # once per cause, not once per seed
        warn(text)
        warned.insert(0, text)
    n_obs, keys = ctx.adata.n_obs, ctx.keys
    return CrossCheckReport(
        passed=agreement.passed,
        table=next(iter(agreement.tables.values())),
        integration=integration,
        pairs=agreement.pairs,
        versions=versions,
        params={
            **records,
            "seeds": seeds,
            **({"seurat_defaults": "seurat" if seurat_defaults else "harmonybridge"} if "seurat" in engines else {}),
        },
        meta={
            "n_cells": n_obs,
            "n_pcs": first[engines[0]].embedding.shape[1],
            "batch_key": keys[0] if len(keys) == 1 else keys,
            "label_key": ctx.label_key,
            "n_seeds": ctx.n_seeds,
            "basis": ctx.basis,
            "n_neighbors": N_NEIGHBORS,
            "margin": MARGIN,
            "floors": FLOORS,
            "engines": engines,
            "engine_labels": {e: ENGINE_LABELS[e] for e in engines},
            "graph_cells": ctx.n_graph,
            "score_cells": min(SCORE_CELLS, n_obs),
            "sample_seed": 0,
            "overrides": applied,
            "engine_overrides": by_engine,
            **({"seurat_path": ctx.seurat_path.note} if ctx.seurat_path is not None and ctx.seurat_path.note else {}),
        },
        convergence={
            engine: first[engine].record["objective"].tolist()
            for engine in engines
            if len(first[engine].record["objective"])
        },
        timings=ctx.timings,
        tables=agreement.tables,
        param_differences=param_differences(records),
        warnings=warned,
    )


def _figure_data(ctx: _Context, runs: dict[str, list[Run]]) -> dict[str, Any]:
    """What the report's figures draw: a UMAP of each engine's first seed (on its neighbour graph),
    the first seeds' embeddings, and the batch and label of the neighbour graph's cells."""
    ctx.step("UMAPs for the figures, on the neighbour graphs of each engine's first seed")
    first = _first(runs)
    with ctx.timed("umap_for_figures"):
        umaps = {engine: first[engine].graph.umap(random_state=0) for engine in ctx.engines}
        return {
            "umaps": umaps,
            "engines": list(ctx.engines),
            "embeddings": {e: first[e].embedding for e in ctx.engines},
            "batch": ctx.rows_of(ctx.adata.obs[ctx.keys[0]]),
            "labels": None if ctx.labels is None else ctx.rows_of(ctx.labels),
        }
