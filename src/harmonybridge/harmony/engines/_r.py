"""The R engine: ``harmony::RunHarmony`` through the R half, with the same parameter object.

Only the embedding and the batch columns cross into R (not the AnnData), so the cost
scales with the embedding. The embedding crosses as one copy in harmony's own layout
(PCs x cells), and comes back the same way. R's argument names come from
:meth:`HarmonyParams.to_r`, nowhere else.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from harmonybridge import _rbridge
from harmonybridge.harmony.params import HarmonyParams

from ._result import EngineResult

logger = logging.getLogger("harmonybridge")


def r_arguments(params: HarmonyParams) -> dict[str, Any]:
    """:meth:`HarmonyParams.to_r` as one flat mapping of R's names: RunHarmony's arguments,
    ``harmony_options()``'s and the seed."""
    r = params.to_r()
    return {**r["args"], **r["options"], "seed": r["seed"]}


#: R harmony's setup (src/harmony.cpp, ``harmony::setup``, in 1.x and 2.0.4) replaces block.size by 0.2
#: for fewer than this many cells, with only an R warning ("Too few cells. Setting block_size to 0.2").
R_SMALL_N, R_SMALL_BLOCK = 40, 0.2


def r_overrides(params: HarmonyParams, n_cells: int) -> dict[str, dict[str, Any]]:
    """The parameters R harmony changes by itself, found by reading harmony 2.0.4's source (R/ui.R,
    R/harmony_option.R, src/harmony.cpp): only block.size, for fewer than 40 cells. (Its other
    automatic values, nclust, theta and lambda, are resolved before the call and passed explicitly;
    theta's scaling by tau is the same in harmonypy.)"""
    if n_cells < R_SMALL_N and params.block_size != R_SMALL_BLOCK:
        why = f"R harmony uses block_size {R_SMALL_BLOCK} with fewer than {R_SMALL_N} cells ({n_cells} here)"
        return {"block_size": {"asked": params.block_size, "ran": R_SMALL_BLOCK, "why": why}}
    return {}


def run_r(Z: Any, meta: pd.DataFrame, keys: list[str], params: HarmonyParams, *, verbose: bool) -> EngineResult:
    """Harmony by R's harmony package; ``set.seed(random_state)`` first. ``Z`` is NumPy, or held in R
    (``_rbridge.REmbedding``: it is read there, and the result stays there)."""
    _rbridge.require("harmony")
    n_cells, n_pcs = Z.shape
    if n_cells == n_pcs:
        msg = (
            f"the embedding is square ({n_cells} x {n_pcs}); R harmony cannot tell cells from components. Use fewer PCs"
        )
        raise ValueError(msg)
    logger.info(
        "harmony (r, R %s, harmony %s): %d cells x %d PCs, batch %s",
        _rbridge.r_version(),
        _rbridge.package_version("harmony"),
        n_cells,
        n_pcs,
        keys,
    )
    start = time.perf_counter()
    out = _rbridge.run_harmony(Z, meta, keys, r_arguments(params), verbose=verbose)
    seconds = time.perf_counter() - start
    result = EngineResult(
        embedding=out["embedding"],
        engine="R harmony",
        versions=out["versions"],
        objective=out["objective"],
        kmeans_rounds=out["kmeans_rounds"],
        objective_kmeans=out["objective_kmeans"],
        seconds=seconds,
        params=params,
        overrides=r_overrides(params, n_cells),
    )
    logger.info("harmony (r): %d iterations in %.1f s, converged=%s", result.n_iter, seconds, result.converged)
    return result
