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

import numpy as np
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


def run_r(Z: np.ndarray, meta: pd.DataFrame, keys: list[str], params: HarmonyParams, *, verbose: bool) -> EngineResult:
    """Harmony by R's harmony package; ``set.seed(random_state)`` first."""
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
    )
    logger.info("harmony (r): %d iterations in %.1f s, converged=%s", result.n_iter, seconds, result.converged)
    return result
