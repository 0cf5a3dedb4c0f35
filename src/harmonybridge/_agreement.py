"""The agreement rule of the cross-check: for every pair of engines and every metric, the gap
between them against each engine's own spread across seeds.

    the engines agree on a metric when  gap(between) <= MARGIN x worst gap(within) + floor

where gap is 1 - similarity (per-PC r, kNN overlap, ARI, NMI) or the distance itself
(relative L2), "between" is the median over all seed pairs of the two engines and "within"
the worst pair of seeds inside either engine.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

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
SHORT = {"python": "python", "r": "R", "seurat": "Seurat"}


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
