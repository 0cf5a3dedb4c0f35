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

import base64
import html
import io
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from . import _check, _metrics
from ._compat import pkg_version
from ._harmony import _run_engine
from ._neighbors import NeighborGraph, sample_cells
from ._params import HarmonyParams

logger = logging.getLogger("harmonybridge")

N_NEIGHBORS = 15
#: above this many cells, the neighbour graphs (kNN overlap, Leiden) and the UMAPs use one seeded
#: sample of this many cells, the same for every embedding (exact kNN costs cells^2)
GRAPH_CELLS = 20_000
#: LISI and silhouette (cells^2 as well) on a seeded sample of this many cells
SCORE_CELLS = 10_000
#: between-engine gap may be this many times the worst within-engine gap ...
MARGIN = 1.5
#: ... plus this floor (so that two nearly identical engines are not failed on noise)
FLOORS = {"pc_r_min": 0.002, "pc_r_median": 0.001, "rel_l2": 0.01, "knn_overlap": 0.03, "ari": 0.05, "nmi": 0.03}
SIMILARITIES = ("pc_r_min", "pc_r_median", "knn_overlap", "ari", "nmi")
METRIC_NAMES = {
    "pc_r_min": "per-PC Pearson r (lowest PC)",
    "pc_r_median": "per-PC Pearson r (median PC)",
    "rel_l2": "relative L2 distance",
    "knn_overlap": f"share of {N_NEIGHBORS} nearest neighbours kept",
    "ari": "ARI of Leiden clusters",
    "nmi": "NMI of Leiden clusters",
}


@dataclass
class _Run:
    engine: str
    seed: int
    embedding: np.ndarray
    record: dict
    graph: NeighborGraph | None = None
    clusters: np.ndarray | None = None

    @property
    def knn(self) -> np.ndarray:
        return self.graph.indices


def _gap(metric: str, value: float) -> float:
    return 1.0 - value if metric in SIMILARITIES else value


def _pair_metrics(a: _Run, b: _Run) -> dict[str, float]:
    r = _metrics.per_pc_pearson(a.embedding, b.embedding)
    cl = _metrics.compare_clusterings(a.clusters, b.clusters)
    return {
        "pc_r_min": float(r.min()),
        "pc_r_median": float(np.median(r)),
        "rel_l2": _metrics.relative_l2(a.embedding, b.embedding),
        "knn_overlap": _metrics.knn_overlap(a.knn, b.knn),
        "ari": cl["ari"],
        "nmi": cl["nmi"],
    }


#: engines the cross-check can run, and how the report names them
ENGINES = ("python", "r", "seurat")
ENGINE_LABELS = {"python": "Python (harmonypy)", "r": "R (harmony)", "seurat": "Seurat 5 (IntegrateLayers)"}
_SHORT = {"python": "python", "r": "R", "seurat": "Seurat"}


def pair_name(a: str, b: str) -> str:
    return f"{a} vs {b}"


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
    _figure_data: dict[str, Any] = field(default_factory=dict, repr=False)

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
            parts.append(f"neighbour graphs (kNN overlap, Leiden) and UMAPs on a seeded sample of {graph:,} of {n:,} cells")
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
            "rule": f"for every pair of engines: between-engine gap <= {MARGIN} x worst within-engine gap of either + floor "
            "(gap = 1 - similarity, or the distance)",
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
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=float)

    def __repr__(self) -> str:
        m = self.meta
        names = " vs ".join(ENGINE_LABELS[e] for e in self.engines)
        lines = [
            f"harmonybridge cross-check: engines {self.verdict.upper()} "
            f"({m['n_cells']} cells x {m['n_pcs']} PCs, batch {m['batch_key']!r}, {m['n_seeds']} seeds per engine)",
            f"  {names}",
            f"  harmonypy {self.versions.get('harmonypy')}, R harmony {self.versions.get('harmony')} (R {self.versions.get('R')};"
            f" {self.versions.get('harmony_precision', 'unknown')} precision, from {self.versions.get('harmony_library', '?')})"
            + (f", Seurat {self.versions.get('Seurat')}" if "seurat" in self.engines else ""),
        ]
        if self.sampling_note():
            lines.append(f"  {self.sampling_note()}")
        verdicts = self.pair_verdicts()
        for name, table in self.tables.items():
            lines += ["", f"  {name}: {verdicts[name]}", _text_table(table, float_fmt="{:.4f}")]
            diff = self.param_differences.get(name)
            if diff:
                lines.append("  parameters that differ: " + ", ".join(f"{k} {v[0]} vs {v[1]}" for k, v in diff.items()))
        lines += ["", _text_table(self.integration, float_fmt="{:.3f}")]
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained page (figures embedded) that a person can read at a glance."""
        return _render_html(self)


def _text_table(df: pd.DataFrame, float_fmt: str) -> str:
    cells = [[str(df.index.name or "")] + [str(c) for c in df.columns]]
    for idx, row in df.iterrows():
        cells.append([str(idx)] + [float_fmt.format(v) if isinstance(v, float) else str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def _agreement_table(a: str, b: str, between: list[dict], within_a: list[dict], within_b: list[dict]) -> pd.DataFrame:
    """One pair of engines against each engine's own seed spread, metric by metric."""
    rows = []
    for metric in METRIC_NAMES:
        median_between = float(np.median([p[metric] for p in between]))
        pick = min if metric in SIMILARITIES else max
        worst_a, worst_b = pick(p[metric] for p in within_a), pick(p[metric] for p in within_b)
        worst_gap = max(_gap(metric, worst_a), _gap(metric, worst_b))
        limit_gap = MARGIN * worst_gap + FLOORS[metric]
        limit = 1.0 - limit_gap if metric in SIMILARITIES else limit_gap
        ok = _gap(metric, median_between) <= limit_gap
        rows.append({"metric": METRIC_NAMES[metric], "key": metric, "between engines": median_between,
                     f"within {_SHORT[a]} (worst)": worst_a, f"within {_SHORT[b]} (worst)": worst_b,
                     "limit": limit, "agree": "yes" if ok else "NO"})  # fmt: skip
    table = pd.DataFrame(rows).set_index("key")
    table.index.name = "key"
    return table


def _param_differences(records: dict[str, dict]) -> dict[str, dict[str, list]]:
    """For each pair of engines, the parameters (seed aside) whose values differ: name -> [a, b]."""
    out = {}
    for a, b in itertools.combinations(records, 2):
        pa, pb = records[a], records[b]
        out[pair_name(a, b)] = {k: [pa.get(k), pb.get(k)] for k in pa if k != "random_state" and pa.get(k) != pb.get(k)}
    return out


def _check_engines(engines: Sequence[str]) -> list[str]:
    engines = list(engines)
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or len(engines) < 2 or len(set(engines)) != len(engines):
        msg = f"engines must be two or more distinct names from {list(ENGINES)}, got {engines!r}"
        raise ValueError(msg)
    return engines


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
    figures: bool = True,
    max_cells: int | None = GRAPH_CELLS,
    **params: Any,
) -> CrossCheckReport:
    """Run each engine with the same explicit parameters under ``n_seeds`` seeds and compare every pair.

    ``engines`` names the Harmony paths: ``"python"`` (harmonypy), ``"r"`` (R's RunHarmony) and
    ``"seurat"`` (Seurat 5's ``IntegrateLayers(method = HarmonyIntegration)``, needs Seurat 5).
    ``params`` are :class:`HarmonyParams` fields shared by the engines (``random_state`` is the
    first seed; the others follow it); ``python_params`` and ``r_params`` override them for one
    engine only, e.g. to show that a planted difference is caught. ``seurat_params="seurat"``
    runs the Seurat path with Seurat's own defaults (what its users get); a dict runs it with
    harmonybridge's parameters plus those overrides. The report says which parameters differ
    between the paths. ``adata`` is not modified.

    Each embedding gets one neighbour graph (exact kNN), shared by the kNN-overlap metric, Leiden
    and the figures' UMAP. Above ``max_cells`` cells (None: never) that graph is built on one
    seeded sample of ``max_cells`` cells, the same for every embedding; LISI and silhouette use
    ``SCORE_CELLS``; per-PC r and relative L2 always use every cell. The report says so. Each
    step is logged (logger ``harmonybridge``, INFO) with the time elapsed.
    """
    t_all = time.perf_counter()
    timings: dict[str, float] = {}

    def step(message: str, *args: Any) -> None:
        logger.info("cross-check [%7.1f s] " + message, time.perf_counter() - t_all, *args)

    engines = _check_engines(engines)
    keys = _check.batch_keys(adata, batch_key)
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
    from . import _rbridge

    if "r" in engines or "seurat" in engines:
        _rbridge.require("harmony")  # fail before any work when an R engine cannot run
    seurat_path = None
    if "seurat" in engines:
        from ._engine_seurat import require_seurat_path

        if len(keys) != 1:
            msg = f"the seurat engine corrects one batch column (the layers of a split Seurat 5 assay), got {keys}"
            raise ValueError(msg)
        seurat_path = require_seurat_path()
    base = HarmonyParams(**params)
    first_seed = base.random_state
    overrides = {"python": python_params or {}, "r": r_params or {}, "seurat": seurat_params if isinstance(seurat_params, dict) else {}}
    engine_params = {e: base.replace(**overrides[e]) for e in engines}
    runs: dict[str, list[_Run]] = {}
    for engine in engines:
        t0 = time.perf_counter()
        runs[engine] = []
        for i in range(n_seeds):
            p = engine_params[engine].replace(random_state=first_seed + i)
            step("%s engine, seed %d (%d of %d)", engine, p.random_state, i + 1, n_seeds)
            if engine == "seurat":
                from ._engine_seurat import run_seurat

                res = run_seurat(_check.embedding(adata, basis), _check.batch_frame(adata, keys), keys,
                                 None if seurat_params == "seurat" else p, random_state=p.random_state, path=seurat_path)  # fmt: skip
            else:
                res = _run_engine(adata, keys, basis, engine, p, False)
            runs[engine].append(_Run(engine, p.random_state, np.asarray(res.embedding, dtype=np.float64), res.record()))
        timings[f"harmony_{engine}"] = time.perf_counter() - t0
    every = [run for engine in engines for run in runs[engine]]
    sample = sample_cells(adata.n_obs, max_cells, random_state=0)
    on_sample = (lambda X: X) if sample is None else (lambda X: X[sample])  # noqa: E731
    rows_of = (lambda s: s) if sample is None else (lambda s: s.iloc[sample])  # noqa: E731
    n_graph = adata.n_obs if sample is None else len(sample)
    t0 = time.perf_counter()
    for i, run in enumerate(every):
        step("neighbour graph %d of %d (%s, seed %d; %d cells, exact %d-NN)", i + 1, len(every), run.engine, run.seed,
             n_graph, N_NEIGHBORS)  # fmt: skip
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
        pairs[f"within_{engine}"] = [_pair_metrics(a, b) for a, b in itertools.combinations(runs[engine], 2)]
    tables = {}
    for a, b in itertools.combinations(engines, 2):
        name = pair_name(a, b)
        pairs[name] = [_pair_metrics(x, y) for x, y in itertools.product(runs[a], runs[b])]
        tables[name] = _agreement_table(a, b, pairs[name], pairs[f"within_{a}"], pairs[f"within_{b}"])
    timings["pair_metrics"] = time.perf_counter() - t0
    table = next(iter(tables.values()))
    passed = all(bool((t["agree"] == "yes").all()) for t in tables.values())

    step("integration metrics (LISI, silhouette and clusters vs labels on up to %d cells)", SCORE_CELLS)
    t0 = time.perf_counter()
    first = {engine: runs[engine][0] for engine in engines}
    conditions = {"uncorrected": np.asarray(_check.embedding(adata, basis), dtype=np.float64),
                  **{engine: first[engine].embedding for engine in engines}}  # fmt: skip
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
    records = {engine: first[engine].record["params"] for engine in engines}
    report = CrossCheckReport(
        passed=passed,
        table=table,
        integration=integration,
        pairs=pairs,
        versions=versions,
        params={**records, "seeds": [first_seed + i for i in range(n_seeds)],
                **({"seurat_defaults": "seurat" if seurat_params == "seurat" else "harmonybridge"} if "seurat" in engines else {})},  # fmt: skip
        meta={"n_cells": adata.n_obs, "n_pcs": first[engines[0]].embedding.shape[1], "batch_key": keys[0] if len(keys) == 1 else keys,
              "label_key": label_key, "n_seeds": n_seeds, "basis": basis, "n_neighbors": N_NEIGHBORS,
              "margin": MARGIN, "floors": FLOORS, "engines": engines,
              "graph_cells": n_graph, "score_cells": min(SCORE_CELLS, adata.n_obs), "sample_seed": 0},  # fmt: skip
        convergence={engine: first[engine].record["objective"].tolist() for engine in engines if len(first[engine].record["objective"])},
        timings=timings,
        tables=tables,
        param_differences=_param_differences(records),
    )
    if figures:
        step("UMAPs for the figures, on the neighbour graphs of each engine's first seed")
        t0 = time.perf_counter()
        umaps = {engine: first[engine].graph.umap(random_state=0) for engine in engines}
        report._figure_data = {"umaps": umaps, "engines": list(engines), "embeddings": {e: first[e].embedding for e in engines},
                               "batch": rows_of(batch_labels), "labels": None if labels is None else rows_of(labels)}  # fmt: skip
        timings["umap_for_figures"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    step("done: %s", report.verdict)
    return report


# --- HTML -------------------------------------------------------------------------------
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _scatter_by(ax, xy: np.ndarray, labels: pd.Series, title: str) -> None:
    cats = pd.Categorical(labels)
    import matplotlib

    n_cats = len(cats.categories)
    cmap, n_colors = (matplotlib.colormaps["tab10"], 10) if n_cats <= 10 else (matplotlib.colormaps["tab20"], 20)
    order = np.random.default_rng(0).permutation(len(xy))
    colors = np.array([cmap(i % n_colors) for i in range(n_cats)])
    ax.scatter(xy[order, 0], xy[order, 1], c=colors[cats.codes[order]], s=max(0.5, min(8, 20000 / len(xy))), linewidths=0)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(cats.categories) <= 20:
        for i, c in enumerate(cats.categories):
            ax.scatter([], [], color=colors[i], label=str(c), s=15)
        ax.legend(fontsize=7, markerscale=1, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)


def _figures(report: CrossCheckReport) -> dict[str, str]:
    import matplotlib.pyplot as plt

    fd = report._figure_data
    if not fd:
        return {}
    out = {}
    color_by = [("batch", fd["batch"])] + ([("label", fd["labels"])] if fd["labels"] is not None else [])
    engines = fd["engines"]
    fig, axes = plt.subplots(len(color_by), len(engines), figsize=(5.5 * len(engines), 4.3 * len(color_by)), squeeze=False)
    for row, (what, values) in enumerate(color_by):
        for col, engine in enumerate(engines):
            _scatter_by(axes[row, col], fd["umaps"][engine], values, f"{ENGINE_LABELS[engine]}: UMAP by {values.name or what}")
    fig.tight_layout()
    out["umaps"] = _png(fig)

    a, b = engines[0], engines[1]
    A, B = fd["embeddings"][a], fd["embeddings"][b]
    r = _metrics.per_pc_pearson(A, B)
    n_show = min(4, A.shape[1])
    fig, axes = plt.subplots(1, n_show + 1, figsize=(3.3 * (n_show + 1), 3.2))
    rng = np.random.default_rng(0)
    sample = rng.choice(A.shape[0], size=min(A.shape[0], 5000), replace=False)
    for i in range(n_show):
        ax = axes[i]
        ax.scatter(A[sample, i], B[sample, i], s=2, alpha=0.5, linewidths=0)
        lo, hi = min(A[:, i].min(), B[:, i].min()), max(A[:, i].max(), B[:, i].max())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_title(f"PC{i + 1}: r = {r[i]:.4f}", fontsize=9)
        ax.set_xlabel(_SHORT[a])
        ax.set_ylabel(_SHORT[b])
    axes[-1].bar(np.arange(1, len(r) + 1), r, color="tab:blue")
    axes[-1].set_ylim(min(0.9, r.min() - 0.01), 1.0)
    axes[-1].set_title(f"per-PC r, {_SHORT[b]} vs {_SHORT[a]}", fontsize=9)
    axes[-1].set_xlabel("PC")
    fig.tight_layout()
    out["scatter"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for engine, obj in report.convergence.items():
        ax.plot(range(len(obj)), obj, marker="o", label=ENGINE_LABELS[engine])
    ax.set_xlabel("Harmony iteration (0 = initial clustering)")
    ax.xaxis.set_major_locator(__import__("matplotlib.ticker").ticker.MaxNLocator(integer=True))
    ax.set_ylabel("objective")
    ax.set_title("convergence, first seed")
    ax.legend(fontsize=8)
    out["convergence"] = _png(fig)
    return out


def _html_table(df: pd.DataFrame, fmt: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or "", *df.columns])
    body = []
    for idx, row in df.iterrows():
        cells = [f"<td>{html.escape(str(idx))}</td>"]
        for v in row:
            text = fmt.format(v) if isinstance(v, float) else str(v)
            cls = ' class="bad"' if text == "NO" else (' class="good"' if text == "yes" else "")
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _render_html(report: CrossCheckReport) -> str:
    m = report.meta
    figs = _figures(report)
    color = "#1b7f3b" if report.passed else "#b00020"
    img = lambda key, alt: f'<img alt="{alt}" src="data:image/png;base64,{figs[key]}">' if key in figs else ""  # noqa: E731
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    engines = report.engines
    params = "<br>".join(f"{html.escape(ENGINE_LABELS[e])}: {html.escape(json.dumps(report.params[e]))}" for e in engines)
    verdicts = report.pair_verdicts()
    agreement = []
    for name, table in report.tables.items():
        diff = report.param_differences.get(name) or {}
        differ = ("parameters that differ: " + ", ".join(f"{k} {v[0]} vs {v[1]}" for k, v in diff.items())) if diff else "same parameters"
        agreement.append(f"<h3>{html.escape(name)}: {verdicts[name]}</h3><p class=\"note\">{html.escape(differ)}</p>"
                         + _html_table(table, "{:.4f}"))  # fmt: skip
    names = ", ".join(ENGINE_LABELS[e] for e in engines)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>harmonybridge cross-check: {report.verdict}</title>
<style>body{{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}} h1{{color:{color}}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child,td:nth-child(2){{text-align:left}} .bad{{color:#b00020;font-weight:bold}} .good{{color:#1b7f3b}}
img{{max-width:100%}} .note{{color:#555;font-size:90%}}</style></head><body>
<h1>Engines {report.verdict.upper()}</h1>
<p>{m['n_cells']} cells x {m['n_pcs']} PCs ({html.escape(m['basis'])}), batch <b>{html.escape(str(m['batch_key']))}</b>{', labels <b>' + html.escape(m['label_key']) + '</b>' if m['label_key'] else ''};
{m['n_seeds']} seeds per engine ({', '.join(map(str, report.params['seeds']))}).</p>
<p>Engines: {html.escape(names)}.</p>{f'<p class="note">{html.escape(report.sampling_note())}.</p>' if report.sampling_note() else ""}
<p class="note">Rule: for each pair of engines and each metric, the gap between them (median over all seed pairs; gap = 1 - similarity,
or the distance) must be at most {MARGIN} x the worst gap between two seeds of either engine, plus a small floor
(the "limit" column). Exact equality is impossible: the engines' random number generators differ.</p>
<h2>Agreement</h2>{"".join(agreement)}
<h2>Integration: uncorrected and each engine</h2>{_html_table(report.integration, "{:.3f}")}
<p class="note">Batch LISI: higher = better mixed (1 = one batch around each cell). Label LISI: lower = labels kept apart.
Silhouette and ARI against labels: higher = biology kept.</p>
<h2>UMAPs</h2>{img("umaps", "UMAPs of each engine")}
<h2>{html.escape(_SHORT[engines[1]])} vs {html.escape(_SHORT[engines[0]])}, per PC</h2>{img("scatter", "per-PC scatter")}
<h2>Convergence</h2>{img("convergence", "convergence")}
<h2>Versions and parameters</h2><p>{html.escape(versions)}</p>
<p class="note">{params}</p>
</body></html>"""
