"""Entry points for the R package (``r/``), which calls them through reticulate.

R users reach the Python engine from R: ``RunHarmonyPy()`` calls :func:`run_harmonypy` and
``CrossCheckHarmony()`` calls :func:`cross_check`. Nothing here imports rpy2: this module runs
inside an R process, where rpy2 cannot start a second R. The R engine of the cross-check is
therefore a callback, an R function that reticulate hands over as a Python callable and that
runs ``harmony::RunHarmony`` in the calling R process (see :func:`cross_check`).

No NumPy array crosses reticulate: a matrix comes as its column-major doubles in an R raw
vector (a Python ``bytearray``) with its shape, a factor as its 0-based int32 codes and its
levels, and the results go back the same way (a ``bytearray`` arrives in R as a raw vector).
reticulate's NumPy conversion is compiled against one NumPy ABI (Debian's reticulate 1.28
refuses NumPy 2); bytes work with any pair, are exact, and cost one copy each way.

Parameters arrive under R's names (``lambda``, ``max_iter``, and ``harmony_options()``'s
``block.size``, ``max.iter.cluster``, ...) and are translated by the tables in
:mod:`harmonybridge.harmony.params`, which spell each name once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harmonybridge._core import checks as _check
from harmonybridge._core.warnings import pkg_version
from harmonybridge.harmony.engines import EngineResult, HarmonyInput, r_overrides, run_engine
from harmonybridge.harmony.params import R_ARGS, R_OPTIONS, HarmonyParams

_INTEGERS = {"nclust", "max_iter", "ncores", "max_iter_kmeans", "random_state"}


def _plain(name: str, value: Any) -> Any:
    """An R value as reticulate gives it, as HarmonyParams takes it (R's 10 is a float)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        value = [_plain(name, v) for v in value]
        return value[0] if len(value) == 1 else tuple(value)
    if name in _INTEGERS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def params_from_r(args: Mapping[str, Any], options: Mapping[str, Any] | None = None, seed: int = 0) -> HarmonyParams:
    """:class:`HarmonyParams` from ``RunHarmony``'s arguments and ``harmony_options()``, R's names.

    Names that are not Harmony parameters are refused, naming them.
    """
    by_r = {r: py for py, r in R_ARGS.items()}
    by_r_option = {r: py for py, r in R_OPTIONS.items()}
    kwargs: dict[str, Any] = {"random_state": _plain("random_state", seed)}
    for source, table in ((args, by_r), (options or {}, by_r_option)):
        unknown = sorted(set(source) - set(table))
        if unknown:
            msg = f"not Harmony parameters: {unknown}; known: {sorted(table)}"
            raise ValueError(msg)
        for r_name, value in source.items():
            py = table[r_name]
            kwargs[py] = _plain(py, value)
    return HarmonyParams(**kwargs)


def matrix_from_r(m: Mapping[str, Any]) -> np.ndarray:
    """An R double matrix sent as ``{"data": bytes, "nrow": n, "ncol": d}`` (column-major), as n x d."""
    nrow, ncol = int(m["nrow"]), int(m["ncol"])
    flat = np.frombuffer(m["data"], dtype=np.float64)
    if flat.size != nrow * ncol:
        msg = f"matrix of {nrow} x {ncol} sent with {flat.size} values"
        raise ValueError(msg)
    return flat.reshape(ncol, nrow).T


def matrix_to_r(Z: np.ndarray) -> bytearray:
    """``Z``'s doubles in R's column-major order, for ``readBin(x, "double", length(x) / 8)``."""
    return bytearray(np.ascontiguousarray(np.asarray(Z, dtype=np.float64).T).tobytes())


def factor_from_r(f: Mapping[str, Any]) -> pd.Categorical:
    """An R factor sent as ``{"codes": bytes (int32, 0-based), "levels": [...]}``."""
    codes = np.frombuffer(f["codes"], dtype=np.int32)
    levels = f["levels"]
    levels = [levels] if isinstance(levels, str) else list(levels)
    return pd.Categorical.from_codes(codes, categories=levels)


def _frame_to_r(df: pd.DataFrame) -> dict[str, list]:
    """A data frame as columns of plain lists (reticulate makes R vectors of them)."""
    return {str(c): df[c].tolist() for c in df.columns}


def _batch_frame(meta: Mapping[str, Any], vars_use: Sequence[str]) -> pd.DataFrame:
    # Categoricals, whose codes harmonypy reads; a plain numbered index, as the Python engine
    # gives harmonypy (see engines.run_python)
    return pd.DataFrame({v: factor_from_r(meta[v]) for v in vars_use})


def run_harmonypy(
    data_mat: np.ndarray,
    meta: Mapping[str, Any],
    vars_use: str | Sequence[str],
    args: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
    early_stop: bool = True,
    batch_prop_cutoff: float = 1e-5,
    verbose: bool = False,
) -> dict[str, Any]:
    """Harmony by harmonypy on ``data_mat`` (cells x PCs, see :func:`matrix_from_r`), for ``RunHarmonyPy()``.

    ``meta`` holds the batch columns (factors, see :func:`factor_from_r`), ``args`` and ``options`` the
    parameters under R's names, ``seed`` harmonypy's ``random_state``. Every parameter is
    resolved as the Python engine resolves it and passed explicitly. ``early_stop=False`` runs
    ``max_iter`` iterations (as R's ``early_stop = FALSE``). Returns the corrected cells x PCs
    embedding, the objective trace, the resolved parameters and versions.
    """
    keys = [vars_use] if isinstance(vars_use, str) else list(vars_use)
    Z = np.ascontiguousarray(matrix_from_r(data_mat))
    params = params_from_r(args, options, seed).replace(batch_prop_cutoff=batch_prop_cutoff)
    obs = _batch_frame(meta, keys)
    obs.index = obs.index.astype(str)  # cells by number: R's checks named them already
    with _check.speaking(_check.Voice("seurat", reductions={"X_pca": "data_mat"})):
        cells = HarmonyInput.check(Z, obs, keys, "X_pca")
        result = run_engine(cells, "python", params, verbose=verbose, early_stop=early_stop)
    params = result.params  # resolved for these cells
    return {
        "embedding": matrix_to_r(result.embedding),
        "objective": [float(v) for v in result.objective],
        "kmeans_rounds": [int(v) for v in result.kmeans_rounds],
        "params": params.to_record(),
        "seconds": result.seconds,
        "versions": {**result.versions, "harmonybridge": pkg_version("harmonybridge") or ""},
    }


def _r_engine(
    run_in_r: Callable[..., Mapping[str, Any]], shape: tuple[int, int]
) -> Callable[[HarmonyParams], EngineResult]:
    """Wrap an R callback as the cross-check's R engine.

    ``run_in_r(args, options, seed)`` gets ``HarmonyParams.to_r()``'s parts and returns what
    ``hb_run_harmony`` (r/R/harmony.R) returns, with the embedding as the bytes of its
    components x cells matrix (``writeBin(as.vector(Z), raw())``), which are the cells x PCs
    values in C order.
    """

    def engine(params: HarmonyParams) -> EngineResult:
        n_cells, n_pcs = shape
        spec = params.to_r()
        start = time.perf_counter()
        out = run_in_r(spec["args"], spec["options"], spec["seed"])
        seconds = time.perf_counter() - start
        versions = {str(k): str(v) for k, v in out["versions"].items()}
        return EngineResult(
            embedding=np.frombuffer(out["embedding"], dtype=np.float64).reshape(n_cells, n_pcs).copy(),
            engine="R harmony",
            versions=versions,
            objective=np.atleast_1d(np.asarray(out["objective"], dtype=np.float64)),
            kmeans_rounds=np.atleast_1d(np.asarray(out["kmeans_rounds"], dtype=np.int64)),
            objective_kmeans=np.atleast_1d(np.asarray(out["objective_kmeans"], dtype=np.float64)),
            seconds=seconds,
            params=params,
            overrides=r_overrides(params, n_cells),
        )

    return engine


def cross_check(
    data_mat: np.ndarray,
    meta: Mapping[str, Any],
    vars_use: str | Sequence[str],
    run_in_r: Callable[..., Mapping[str, Any]],
    *,
    label: str | None = None,
    n_seeds: int = 3,
    args: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    html: bool = False,
) -> dict[str, Any]:
    """:func:`harmonybridge.cross_check` on cells x PCs ``data_mat``, with R runs done by R.

    ``meta`` holds the batch columns and the ``label`` column as factors (see
    :func:`factor_from_r`), and the cell names as ``meta['cell']`` if given. ``run_in_r`` is
    the R engine (see :func:`_r_engine`). Returns the verdict, the agreement and integration
    tables (the metric or condition as the first column), the report as text and JSON, and
    with ``html=True`` the HTML page.
    """
    from anndata import AnnData

    from harmonybridge.crosscheck import cross_check as _cross_check

    keys = [vars_use] if isinstance(vars_use, str) else list(vars_use)
    columns = keys + ([label] if label is not None else [])
    obs = pd.DataFrame({c: factor_from_r(meta[c]) for c in dict.fromkeys(columns)})
    if "cell" in meta:
        obs.index = pd.Index([str(c) for c in meta["cell"]])
    else:
        obs.index = obs.index.astype(str)
    Z = np.ascontiguousarray(matrix_from_r(data_mat))
    adata = AnnData(obs=obs, obsm={"X_pca": Z})
    params = params_from_r(args or {}, options, seed)
    report = _cross_check(
        adata, keys, label_key=label, n_seeds=int(n_seeds), basis="X_pca", figures=html,
        r_engine=_r_engine(run_in_r, Z.shape), **params.to_dict(),
    )  # fmt: skip
    return {
        "verdict": report.verdict,
        "passed": report.passed,
        "agreement": _frame_to_r(report.table.reset_index()),
        "integration": _frame_to_r(report.integration.reset_index()),
        "versions": {str(k): str(v) for k, v in report.versions.items()},
        "text": repr(report),
        "json": report.to_json(),
        "html": report.to_html() if html else None,
    }
