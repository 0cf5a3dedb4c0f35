"""The agreement rule of the cross-check: for every pair of engines and every metric, the gap
between them against each engine's own spread across seeds.

    the engines agree on a metric when  gap(between) <= MARGIN x worst gap(within) + floor

where gap is 1 - similarity (per-PC r, kNN overlap, ARI, NMI) or the distance itself
(relative L2), "between" is the median over all seed pairs of the two engines and "within"
the worst pair of seeds inside either engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harmonybridge import metrics as _metrics
from harmonybridge.harmony.engines import ENGINES
from harmonybridge.metrics import NeighborGraph

N_NEIGHBORS = 15
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
#: how the tables name each engine
SHORT = {name: e.short for name, e in ENGINES.items()}


@dataclass
class Run:
    """One engine's run under one seed: its embedding and record, then its neighbour graph and
    Leiden clusters (set by the cross-check once the graph is built)."""

    engine: str
    seed: int
    embedding: np.ndarray
    record: dict
    graph: NeighborGraph | None = None
    clusters: np.ndarray | None = None

    @property
    def knn(self) -> np.ndarray:
        """Each cell's nearest other cells (the graph's indices)."""
        return self.graph.indices


def pair_metrics(a: Run, b: Run) -> dict[str, float]:
    """The metrics of METRIC_NAMES between two runs (their embeddings, kNN and clusters)."""
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


def pair_name(a: str, b: str) -> str:
    return f"{a} vs {b}"


def gap(metric: str, value: float) -> float:
    return 1.0 - value if metric in SIMILARITIES else value


def agreement_table(a: str, b: str, between: list[dict], within_a: list[dict], within_b: list[dict]) -> pd.DataFrame:
    """One pair of engines against each engine's own seed spread, metric by metric."""
    rows = []
    for metric in METRIC_NAMES:
        median_between = float(np.median([p[metric] for p in between]))
        pick = min if metric in SIMILARITIES else max
        worst_a, worst_b = pick(p[metric] for p in within_a), pick(p[metric] for p in within_b)
        worst_gap = max(gap(metric, worst_a), gap(metric, worst_b))
        limit_gap = MARGIN * worst_gap + FLOORS[metric]
        limit = 1.0 - limit_gap if metric in SIMILARITIES else limit_gap
        ok = gap(metric, median_between) <= limit_gap
        rows.append(
            {
                "metric": METRIC_NAMES[metric],
                "key": metric,
                "between engines": median_between,
                f"within {SHORT[a]} (worst)": worst_a,
                f"within {SHORT[b]} (worst)": worst_b,
                "limit": limit,
                "agree": "yes" if ok else "NO",
            }
        )
    table = pd.DataFrame(rows).set_index("key")
    table.index.name = "key"
    return table


def param_differences(records: dict[str, dict]) -> dict[str, dict[str, list]]:
    """For each pair of engines, the parameters (seed aside) whose values differ: name -> [a, b]."""
    out = {}
    for a, b in itertools.combinations(records, 2):
        pa, pb = records[a], records[b]
        out[pair_name(a, b)] = {k: [pa.get(k), pb.get(k)] for k in pa if k != "random_state" and pa.get(k) != pb.get(k)}
    return out


#: When the limit lets the engines differ this much and still "agree" (per-PC r of the lowest PC down to
#: 0.8, fewer than half of the neighbours kept), one engine's own seeds differ so much that the verdict
#: says little: the report and the console say so. Leiden's ARI is left out: two seeds of one engine
#: often give 0.65-0.7 on real data (ifnb) whose embeddings agree to r > 0.99.
VACUOUS = {"pc_r_min": 0.8, "knn_overlap": 0.5}


def plain_value(value: Any) -> Any:
    """A parameter value for text and JSON: 2.0 -> 2, (1.0, 2.0) -> [1, 2], None -> 'automatic'."""
    if value is None:
        return "automatic"
    if isinstance(value, tuple):
        return plain_value(value[0]) if len(value) == 1 else [plain_value(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def spread_warnings(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Why a verdict says little, when one engine's own seeds already differ widely."""
    found = []
    for name, table in tables.items():
        within = [c for c in table.columns if c.startswith("within ")]
        for metric, bound in VACUOUS.items():
            limit = float(table.loc[metric, "limit"])
            if limit >= bound:
                continue
            column = min(within, key=lambda c: float(table.loc[metric, c]))
            worst = float(table.loc[metric, column])
            engine = column.removeprefix("within ").removesuffix(" (worst)").replace("python", "Python")
            found.append(
                f"{name}, {METRIC_NAMES[metric]}: two {engine} seeds give {worst:.2f}, "
                f"so the engines may differ down to {limit:.2f} and still agree"
            )
    if not found:
        return []
    return [
        "the verdict says little: an engine's own seeds differ widely (" + "; ".join(found) + "). Harmony's result "
        "on this input depends on the seed, usually because there are few cells for the number of PCs and clusters or "
        "little structure in the PCs; compare on more cells, fewer PCs or a smaller nclust before trusting the verdict."
    ]


#: how the report names each engine the cross-check can run (the registry's names)
ENGINE_LABELS = {name: e.label for name, e in ENGINES.items()}


def check_engines(engines: Sequence[str]) -> list[str]:
    engines = list(engines)
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or len(engines) < 2 or len(set(engines)) != len(engines):
        msg = f"engines must be two or more distinct names from {list(ENGINES)}, got {engines!r}"
        raise ValueError(msg)
    return engines


def engine_versions(v: dict, engines: list[str]) -> str:
    """The versions line of the report: those of the engines compared."""
    parts = [f"harmonypy {v.get('harmonypy')}"] if "python" in engines else []
    if {"r", "seurat"} & set(engines):
        parts.append(
            f"R harmony {v.get('harmony')} (R {v.get('R')}; {v.get('harmony_precision', 'unknown')} precision,"
            f" from {v.get('harmony_library', '?')})"
        )
    if "seurat" in engines:
        parts.append(f"Seurat {v.get('Seurat')}")
    if "dask" in engines:
        parts.append(f"dask {v.get('dask')}")
    return ", ".join(parts)
