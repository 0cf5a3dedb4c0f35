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
from ._compat import pkg_version, warn
from ._harmony import _run_engine
from ._params import HarmonyParams

logger = logging.getLogger("harmonybridge")

N_NEIGHBORS = 15
#: between-engine gap may be this many times the worst within-engine gap ...
MARGIN = 1.5
#: ... plus this floor (so that two nearly identical engines are not failed on noise)
FLOORS = {"pc_r_min": 0.002, "pc_r_median": 0.001, "rel_l2": 0.01, "knn_overlap": 0.03, "ari": 0.05, "nmi": 0.03}
SIMILARITIES = ("pc_r_min", "pc_r_median", "knn_overlap", "ari", "nmi")
#: When the limit lets the engines differ this much and still "agree" (per-PC r of the lowest PC down to
#: 0.8, fewer than half of the neighbours kept), one engine's own seeds differ so much that the verdict
#: says little: the report and the console say so. Leiden's ARI is left out: two seeds of one engine
#: often give 0.65-0.7 on real data (ifnb) whose embeddings agree to r > 0.99.
VACUOUS = {"pc_r_min": 0.8, "knn_overlap": 0.5}
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
    knn: np.ndarray | None = None
    clusters: np.ndarray | None = None


def _plain(value: Any) -> Any:
    """A parameter value for text and JSON: 2.0 -> 2, (1.0, 2.0) -> [1, 2], None -> 'automatic'."""
    if value is None:
        return "automatic"
    if isinstance(value, tuple):
        return _plain(value[0]) if len(value) == 1 else [_plain(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


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


@dataclass
class CrossCheckReport:
    """What :func:`cross_check` found. ``passed`` is the verdict; ``table`` the figures behind it."""

    passed: bool
    table: pd.DataFrame
    integration: pd.DataFrame
    pairs: dict[str, list[dict[str, float]]]
    versions: dict[str, str]
    params: dict[str, dict]
    meta: dict[str, Any]
    convergence: dict[str, list[float]]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    _figure_data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str:
        return "agree" if self.passed else "disagree"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "rule": f"between-engine gap <= {MARGIN} x worst within-engine gap + floor (gap = 1 - similarity, or the distance)",
            "agreement": json.loads(self.table.to_json(orient="index")),
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
        m = self.meta
        lines = [
            f"harmonybridge cross-check: engines {self.verdict.upper()} "
            f"({m['n_cells']} cells x {m['n_pcs']} PCs, batch {m['batch_key']!r}, {m['n_seeds']} seeds per engine)",
            f"  harmonypy {self.versions.get('harmonypy')} vs R harmony {self.versions.get('harmony')} (R {self.versions.get('R')};"
            f" {self.versions.get('harmony_precision', 'unknown')} precision, from {self.versions.get('harmony_library', '?')})",
            f"  {overrides_text(m.get('overrides', {}))}",
            "",
            _text_table(self.table, float_fmt="{:.4f}"),
            "",
            _text_table(self.integration, float_fmt="{:.3f}"),
        ]
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained page (figures embedded) that a person can read at a glance."""
        return _render_html(self)


def overrides_text(overrides: dict[str, dict[str, Any]]) -> str:
    """One line saying which parameters were set for one engine only (python_params / r_params)."""
    parts = []
    for engine, name in (("python", "Python engine"), ("r", "R engine")):
        changed = overrides.get(engine) or {}
        if changed:
            parts.append(f"{name} " + ", ".join(f"{k}={v['engine']} (shared: {v['shared']})" for k, v in changed.items()))
    if not parts:
        return "overrides: none (both engines ran the same parameters)"
    return "overrides applied to one engine only: " + "; ".join(parts)


def _spread_warnings(table: pd.DataFrame) -> list[str]:
    """Why the verdict says little, when one engine's own seeds already differ widely."""
    found = []
    for metric, bound in VACUOUS.items():
        limit = float(table.loc[metric, "limit"])
        if limit >= bound:
            continue
        py, r = float(table.loc[metric, "within python (worst)"]), float(table.loc[metric, "within R (worst)"])
        engine, worst = ("Python", py) if py <= r else ("R", r)
        found.append(f"{METRIC_NAMES[metric]}: two {engine} seeds give {worst:.2f}, so the engines may differ down to {limit:.2f} and still agree")
    if not found:
        return []
    return [
        "the verdict says little: an engine's own seeds differ widely (" + "; ".join(found) + "). Harmony's result "
        "on this input depends on the seed, usually because there are few cells for the number of PCs and clusters or "
        "little structure in the PCs; compare on more cells, fewer PCs or a smaller nclust before trusting the verdict."
    ]


def _text_table(df: pd.DataFrame, float_fmt: str) -> str:
    cells = [[str(df.index.name or "")] + [str(c) for c in df.columns]]
    for idx, row in df.iterrows():
        cells.append([str(idx)] + [float_fmt.format(v) if isinstance(v, float) else str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells)


def cross_check(
    adata: AnnData,
    batch_key: str | Sequence[str],
    *,
    label_key: str | None = None,
    n_seeds: int = 3,
    basis: str = "X_pca",
    python_params: dict | None = None,
    r_params: dict | None = None,
    figures: bool = True,
    **params: Any,
) -> CrossCheckReport:
    """Run both engines with the same explicit parameters under ``n_seeds`` seeds each and compare.

    ``params`` are :class:`HarmonyParams` fields shared by both engines (``random_state`` is the
    first seed; the others follow it); ``python_params`` and ``r_params`` override them for one
    engine only, e.g. to show that a planted difference is caught. ``adata`` is not modified.
    """
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    keys = _check.batch_keys(adata, batch_key)
    _check.batch_frame(adata, keys)
    labels = _check.obs_key(adata, label_key) if label_key is not None else None
    if n_seeds < 2:
        msg = f"n_seeds must be at least 2 to measure each engine's spread, got {n_seeds}"
        raise ValueError(msg)
    _check.cells_for_neighbors(adata.n_obs, N_NEIGHBORS, "nearest neighbours (the cross-check compares them)")
    from . import _rbridge

    _rbridge.require("harmony")  # fail before any work when the R engine cannot run
    base = HarmonyParams(**params)
    first_seed = base.random_state
    engine_params = {
        "python": base.replace(**(python_params or {})),
        "r": base.replace(**(r_params or {})),
    }
    shared = base.resolve(adata.n_obs, len(keys))
    overrides = {
        engine: {k: {"engine": _plain(getattr(engine_params[engine], k)), "shared": _plain(getattr(shared, k))} for k in given}
        for engine, given in (("python", python_params or {}), ("r", r_params or {}))
    }
    runs: list[_Run] = []
    for engine in ("python", "r"):
        t0 = time.perf_counter()
        for i in range(n_seeds):
            p = engine_params[engine].replace(random_state=first_seed + i)
            logger.info("cross-check: %s engine, seed %d", engine, p.random_state)
            res = _run_engine(adata, keys, basis, engine, p, False)
            runs.append(_Run(engine, p.random_state, np.asarray(res.embedding, dtype=np.float64), res.record()))
        timings[f"harmony_{engine}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        run.knn = _metrics.knn_indices(run.embedding, N_NEIGHBORS)
    timings["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        run.clusters = _metrics.leiden(run.embedding, n_neighbors=N_NEIGHBORS, random_state=0)
    timings["leiden"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    py = [r for r in runs if r.engine == "python"]
    rr = [r for r in runs if r.engine == "r"]
    pairs = {
        "between": [_pair_metrics(a, b) for a, b in itertools.product(py, rr)],
        "within_python": [_pair_metrics(a, b) for a, b in itertools.combinations(py, 2)],
        "within_r": [_pair_metrics(a, b) for a, b in itertools.combinations(rr, 2)],
    }
    timings["pair_metrics"] = time.perf_counter() - t0
    rows = []
    for metric in METRIC_NAMES:
        between = float(np.median([p[metric] for p in pairs["between"]]))
        within_py = [p[metric] for p in pairs["within_python"]]
        within_r = [p[metric] for p in pairs["within_r"]]
        pick = min if metric in SIMILARITIES else max
        worst_py, worst_r = pick(within_py), pick(within_r)
        worst_gap = max(_gap(metric, worst_py), _gap(metric, worst_r))
        limit_gap = MARGIN * worst_gap + FLOORS[metric]
        limit = 1.0 - limit_gap if metric in SIMILARITIES else limit_gap
        ok = _gap(metric, between) <= limit_gap
        rows.append({"metric": METRIC_NAMES[metric], "key": metric, "between engines": between, "within python (worst)": worst_py,
                     "within R (worst)": worst_r, "limit": limit, "agree": "yes" if ok else "NO"})  # fmt: skip
    table = pd.DataFrame(rows).set_index("key")
    table.index.name = "key"
    passed = bool((table["agree"] == "yes").all())
    spread = _spread_warnings(table)
    for text in spread:
        warn(text)

    t0 = time.perf_counter()
    conditions = {"uncorrected": np.asarray(_check.embedding(adata, basis), dtype=np.float64), "python": py[0].embedding, "r": rr[0].embedding}
    batch_labels = adata.obs[keys[0]]
    integ = []
    for name, X in conditions.items():
        row: dict[str, Any] = {"condition": name, f"batch LISI ({keys[0]})": _metrics.median_lisi(X, batch_labels)}
        if labels is not None:
            clusters = _metrics.leiden(X, n_neighbors=N_NEIGHBORS) if name == "uncorrected" else (py[0] if name == "python" else rr[0]).clusters
            row[f"label LISI ({label_key})"] = _metrics.median_lisi(X, labels)
            row["silhouette (labels)"] = _metrics.silhouette(X, labels.to_numpy())
            row["ARI clusters vs labels"] = _metrics.compare_clusterings(clusters, labels)["ari"]
        integ.append(row)
    integration = pd.DataFrame(integ).set_index("condition")
    timings["integration_metrics"] = time.perf_counter() - t0

    versions = {"harmonypy": py[0].record["versions"].get("harmonypy", ""), **{k: v for k, v in rr[0].record["versions"].items()},
                "harmonybridge": pkg_version("harmonybridge") or "", "scanpy": pkg_version("scanpy") or ""}  # fmt: skip
    report = CrossCheckReport(
        passed=passed,
        table=table,
        integration=integration,
        pairs=pairs,
        versions=versions,
        params={"python": py[0].record["params"], "r": rr[0].record["params"],
                "seeds": [first_seed + i for i in range(n_seeds)]},  # fmt: skip
        meta={"n_cells": adata.n_obs, "n_pcs": py[0].embedding.shape[1], "batch_key": keys[0] if len(keys) == 1 else keys,
              "label_key": label_key, "n_seeds": n_seeds, "basis": basis, "n_neighbors": N_NEIGHBORS,
              "margin": MARGIN, "floors": FLOORS, "overrides": overrides},  # fmt: skip
        convergence={"python": py[0].record["objective"].tolist(), "r": rr[0].record["objective"].tolist()},
        timings=timings,
        warnings=spread,
    )
    if figures:
        t0 = time.perf_counter()
        report._figure_data = _figure_data(conditions, batch_labels, labels)
        timings["umap_for_figures"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    logger.info("cross-check: %s (%.1f s)", report.verdict, timings["total"])
    return report


def _figure_data(conditions: dict[str, np.ndarray], batch: pd.Series, labels: pd.Series | None) -> dict[str, Any]:
    import scanpy as sc

    umaps = {}
    for name in ("python", "r"):
        tmp = _metrics.neighbor_graph(conditions[name], n_neighbors=N_NEIGHBORS, random_state=0)
        sc.tl.umap(tmp, random_state=0)
        umaps[name] = tmp.obsm["X_umap"]
    return {"umaps": umaps, "python": conditions["python"], "r": conditions["r"], "batch": batch, "labels": labels}


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
    fig, axes = plt.subplots(len(color_by), 2, figsize=(11, 4.3 * len(color_by)), squeeze=False)
    for row, (what, values) in enumerate(color_by):
        for col, engine in enumerate(("python", "r")):
            name = "Python (harmonypy)" if engine == "python" else "R (harmony)"
            _scatter_by(axes[row, col], fd["umaps"][engine], values, f"{name}: UMAP by {values.name or what}")
    fig.tight_layout()
    out["umaps"] = _png(fig)

    A, B = fd["python"], fd["r"]
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
        ax.set_xlabel("Python")
        ax.set_ylabel("R")
    axes[-1].bar(np.arange(1, len(r) + 1), r, color="tab:blue")
    axes[-1].set_ylim(min(0.9, r.min() - 0.01), 1.0)
    axes[-1].set_title("per-PC r, R vs Python", fontsize=9)
    axes[-1].set_xlabel("PC")
    fig.tight_layout()
    out["scatter"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for engine, obj in report.convergence.items():
        ax.plot(range(len(obj)), obj, marker="o", label="Python (harmonypy)" if engine == "python" else "R (harmony)")
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
    params = html.escape(json.dumps(report.params["python"]))
    r_params = html.escape(json.dumps(report.params["r"]))
    table = report.table
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>harmonybridge cross-check: {report.verdict}</title>
<style>body{{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}} h1{{color:{color}}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child,td:nth-child(2){{text-align:left}} .bad{{color:#b00020;font-weight:bold}} .good{{color:#1b7f3b}}
img{{max-width:100%}} .note{{color:#555;font-size:90%}}
.warn{{background:#fff4ce;border-left:4px solid #c98a00;padding:.5em .8em}}</style></head><body>
<h1>Engines {report.verdict.upper()}</h1>
{"".join(f'<p class="warn"><b>Warning:</b> {html.escape(w)}</p>' for w in report.warnings)}
<p>{html.escape(overrides_text(m.get("overrides", {})))}</p>
<p>{m['n_cells']} cells x {m['n_pcs']} PCs ({html.escape(m['basis'])}), batch <b>{html.escape(str(m['batch_key']))}</b>{', labels <b>' + html.escape(m['label_key']) + '</b>' if m['label_key'] else ''};
{m['n_seeds']} seeds per engine ({', '.join(map(str, report.params['seeds']))}).</p>
<p class="note">Rule: for each metric, the gap between engines (median over all Python x R seed pairs; gap = 1 - similarity,
or the distance) must be at most {MARGIN} x the worst gap between two seeds of the same engine, plus a small floor
(the "limit" column). Exact equality is impossible: the engines' random number generators differ.</p>
<h2>Agreement</h2>{_html_table(table, "{:.4f}")}
<h2>Integration: uncorrected, Python and R</h2>{_html_table(report.integration, "{:.3f}")}
<p class="note">Batch LISI: higher = better mixed (1 = one batch around each cell). Label LISI: lower = labels kept apart.
Silhouette and ARI against labels: higher = biology kept.</p>
<h2>UMAPs</h2>{img("umaps", "UMAPs of Python and R")}
<h2>R vs Python, per PC</h2>{img("scatter", "per-PC scatter")}
<h2>Convergence</h2>{img("convergence", "convergence")}
<h2>Versions and parameters</h2><p>{html.escape(versions)}</p>
<p class="note">Python engine: {params}<br>R engine: {r_params}</p>
</body></html>"""
