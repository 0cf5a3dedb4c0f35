"""The Python engine: harmonypy (>= 2.1), every parameter passed explicitly."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from harmonybridge._core.warnings import pkg_version, version_tuple
from harmonybridge.harmony.params import HarmonyParams

from ._result import EngineResult

logger = logging.getLogger("harmonybridge")

MIN_HARMONYPY = (2, 1, 0)


def check_harmonypy_version(found: str | None) -> None:
    """Refuse a missing or pre-2.1 harmonypy, saying how to get a good one."""
    if found is None:
        msg = "harmonypy is not installed; install it with: pip install 'harmonypy>=2.1'"
        raise ImportError(msg)
    if version_tuple(found) < MIN_HARMONYPY:
        msg = (
            f"harmonypy {found} is too old: harmonybridge needs harmonypy >= 2.1 (C++ backend, cells x PCs output, "
            "deterministic per random_state). Upgrade with: pip install -U 'harmonypy>=2.1'"
        )
        raise ImportError(msg)


def import_harmonypy():
    """harmonypy, at least 2.1, or an error saying how to get it."""
    check_harmonypy_version(pkg_version("harmonypy"))
    import harmonypy

    return harmonypy


def run_python(
    Z: np.ndarray, meta: pd.DataFrame, keys: list[str], params: HarmonyParams, *, verbose: bool, early_stop: bool = True
) -> EngineResult:
    """Harmony by harmonypy, with every parameter passed explicitly. ``early_stop=False`` runs
    ``max_iter`` iterations whatever the objective does (R's ``early_stop = FALSE``)."""
    hp = import_harmonypy()
    logger.info("harmony (python, harmonypy %s): %d cells x %d PCs, batch %s", hp.__version__, *Z.shape, keys)
    start = time.perf_counter()
    # a plain numbered index: with string cell names, pandas hashes every name when harmonypy
    # reads the category codes (50 ms at 200k cells, 0.2 s at 1M; bench/bench_harmony.py)
    meta = meta.reset_index(drop=True)
    kwargs = params.to_harmonypy()
    if not early_stop:
        kwargs["epsilon_harmony"] = -np.inf
    ho = hp.run_harmony(Z, meta, keys, verbose=verbose, **kwargs)
    seconds = time.perf_counter() - start
    result = EngineResult(
        embedding=ho.Z_corr,
        engine="harmonypy",
        versions={"harmonypy": pkg_version("harmonypy") or hp.__version__},
        objective=np.asarray(ho.objective_harmony, dtype=np.float64),
        kmeans_rounds=np.asarray(ho.kmeans_rounds, dtype=np.int64),
        objective_kmeans=np.asarray(ho.objective_kmeans, dtype=np.float64),
        seconds=seconds,
        params=params,
        overrides={},  # harmonypy 2.1 runs every value it is given (harmony.py: nclust/sigma/theta only when None)
    )
    logger.info("harmony (python): %d iterations in %.1f s, converged=%s", result.n_iter, seconds, result.converged)
    return result
