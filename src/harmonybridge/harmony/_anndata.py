"""The public Harmony entry points: scanpy-shaped, engine-agnostic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anndata import AnnData

from harmonybridge._core import checks as _check

from .engines import BACKENDS, Backend, EngineResult, from_anndata, run_engine
from .params import HarmonyParams

__all__ = ["BACKENDS", "harmony_integrate", "run_harmony", "store_result"]


def _is_seurat(obj: object) -> bool:
    """An rpy2 R object of class Seurat (checked without starting R for anything else)."""
    if isinstance(obj, AnnData) or "rpy2" not in type(obj).__module__:
        return False
    return "Seurat" in list(getattr(obj, "rclass", []))


def store_result(
    adata: AnnData,
    result: EngineResult,
    *,
    backend: str,
    keys: list[str],
    basis: str,
    key_added: str,
    uns_key: str = "harmony",
) -> None:
    """Write the embedding and the run's record into the AnnData."""
    adata.obsm[key_added] = result.embedding
    record = result.record()
    record.update(backend=backend, batch_key=list(keys), basis=basis, key_added=key_added)
    if "scheduler_record" in result.extra:  # the dask engine: where it ran and in which chunks
        record["scheduler"] = result.extra["scheduler_record"]
        record["chunking"] = {k: int(result.extra[k]) for k in ("chunk_cells", "n_chunks") if k in result.extra}
    adata.uns[uns_key] = record


def run_harmony(
    adata: AnnData,
    batch_key: str | Sequence[str],
    *,
    backend: Backend = "python",
    basis: str = "X_pca",
    key_added: str = "X_pca_harmony",
    theta: float | Sequence[float] | None = None,
    sigma: float = 0.1,
    lamb: float | Sequence[float] | None = None,
    nclust: int | None = None,
    tau: float = 0,
    block_size: float = 0.05,
    max_iter: int = 10,
    max_iter_kmeans: int = 4,
    epsilon_cluster: float = 1e-3,
    epsilon_harmony: float = 1e-2,
    alpha: float = 0.2,
    batch_prop_cutoff: float = 1e-5,
    ncores: int | None = None,
    random_state: int = 0,
    chunk_cells: int | None = None,
    scheduler: Any = None,
    copy: bool = False,
    verbose: bool = False,
) -> AnnData | None:
    """Correct ``adata.obsm[basis]`` for batch with Harmony.

    Parameters
    ----------
    adata
        Cells with a PCA (or other) embedding in ``obsm[basis]``.
    batch_key
        One ``obs`` column, or a list of them to correct several covariates at once.
    backend
        ``"python"`` runs harmonypy; ``"r"`` runs R's ``harmony::RunHarmony`` through rpy2;
        ``"dask"`` runs harmonypy 2.1's algorithm chunked on Dask (memory set by ``chunk_cells``).
        All get the same explicit parameters.
    basis, key_added
        Where the embedding is read from and where the corrected cells x PCs are written.
    theta, sigma, lamb, nclust, tau, block_size, max_iter, max_iter_kmeans, epsilon_cluster, epsilon_harmony, alpha
        Harmony's parameters (see :class:`HarmonyParams`); ``lamb=None`` estimates lambda.
    batch_prop_cutoff
        In each cluster, correct only the batches whose cells' mean membership of it exceeds this.
    ncores
        Threads; default all CPUs this process may use. Results do not depend on it.
    random_state
        Seed. The same seed and engine give identical output.
    chunk_cells
        Cells per chunk of the ``dask`` engine (None: automatic); the other engines ignore it.
    scheduler
        Where the ``dask`` engine runs: ``"tcp://host:8786"`` (an existing cluster), a
        ``distributed.Client``, ``"threads"`` or ``"local"`` (a LocalCluster on this machine); default
        an active client if any, else threads. Only for ``backend="dask"``.
    copy
        Return a corrected copy instead of writing into ``adata``.
    verbose
        Let the engine log every iteration.

    A Seurat object (an rpy2 object) works too: ``basis``/``key_added`` name its reductions
    (``X_pca`` -> ``pca``, ``X_pca_harmony`` -> ``harmony``) and a new Seurat object is returned,
    as ``RunHarmony(obj, batch_key)`` would return it, from either engine.

    Returns
    -------
    The corrected copy if ``copy``, else None (a new Seurat object for a Seurat input).
    ``obsm[key_added]`` holds the corrected embedding; ``uns['harmony']`` the parameters used,
    engine and version, iterations, convergence and the objective per iteration. On any error ``adata`` is unchanged.
    """
    values = locals()  # the Harmony parameters of this signature are HarmonyParams' fields (tests/test_params.py)
    params = HarmonyParams(**{name: values[name] for name in HarmonyParams.names()})
    if _is_seurat(adata):
        from harmonybridge.convert import reduction_name

        from ._seurat import run_harmony_seurat

        _check.distinct_keys(basis, key_added, reductions=(reduction_name(basis), reduction_name(key_added)))
        return run_harmony_seurat(
            adata,
            _check.key_list(batch_key),
            params,
            backend=backend,
            reduction=reduction_name(basis),
            reduction_save=reduction_name(key_added),
            verbose=verbose,
            scheduler=scheduler,
        )
    _check.distinct_keys(basis, key_added)
    keys = _check.batch_keys(adata, batch_key)
    result = run_engine(from_anndata(adata, keys, basis), backend, params, verbose=verbose, scheduler=scheduler)
    _check.converged(result.engine, result.convergence_warning())
    target = adata.copy() if copy else adata
    store_result(target, result, backend=backend, keys=keys, basis=basis, key_added=key_added)
    return target if copy else None


#: harmonypy's own keyword names, accepted by the scanpy-compatible entry point.
_HARMONYPY_ALIASES = {"max_iter_harmony": "max_iter", "vars_use": None}


def harmony_integrate(
    adata: AnnData,
    key: str | Sequence[str],
    basis: str = "X_pca",
    adjusted_basis: str = "X_pca_harmony",
    **kwargs: Any,
) -> AnnData | None:
    """Drop-in for ``scanpy.external.pp.harmony_integrate`` that works with harmonypy >= 2.

    Same signature as scanpy's: ``import harmonybridge as hb; hb.harmony_integrate(adata, "batch")``.
    ``kwargs`` take harmonybridge's or harmonypy's names (``max_iter_harmony``), ``backend`` and
    ``copy``; with ``copy=True`` the corrected copy is returned and ``adata`` is left as it was.
    """
    for alias, name in _HARMONYPY_ALIASES.items():
        if alias in kwargs:
            if name is None:
                msg = f"{alias!r} is set by `key` in harmony_integrate; remove it"
                raise TypeError(msg)
            kwargs[name] = kwargs.pop(alias)
    return run_harmony(adata, key, basis=basis, key_added=adjusted_basis, **kwargs)
