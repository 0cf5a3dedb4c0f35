"""Label transfer from a reference AnnData to a query AnnData, with Seurat or with scanpy.

``hb.transfer_labels(reference, query, "cell_type", backend="seurat" | "scanpy")`` writes the
predicted label into ``query.obs[f"{backend}_{label_key}"]`` and a confidence in
``query.obs[f"{backend}_{label_key}_score"]``:

- ``"seurat"``: reference ``NormalizeData``, ``FindVariableFeatures(nfeatures=2000)``,
  ``ScaleData``, ``RunPCA(npcs=n_pcs)``; query ``NormalizeData``; then
  ``FindTransferAnchors(reference, query, dims=1:n_pcs, reference.reduction="pca")`` and
  ``TransferData(anchorset, refdata=labels, dims=1:n_pcs)``. Score: ``prediction.score.max``.
- ``"scanpy"``: both ``normalize_total(target_sum=1e4)`` + ``log1p``; reference
  ``highly_variable_genes(n_top_genes=2000)`` (Seurat's flavour), ``pca(n_comps=n_pcs)``,
  ``neighbors`` (15); ``sc.tl.ingest(query, reference, obs=label_key)``. Score: the share of
  the query cell's 15 reference neighbours that carry the predicted label (ingest's vote).

Both start from raw counts (``layers["counts"]``, or ``X`` when it holds integers) and use
the genes the two share.
"""

from __future__ import annotations

import logging
import warnings
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge._core.counts import is_counts

logger = logging.getLogger("harmonybridge")

BACKENDS = ("seurat", "scanpy")


def _counts(adata: AnnData, name: str) -> object:
    if "counts" in adata.layers:
        return adata.layers["counts"]
    if is_counts(adata.X):
        return adata.X
    msg = f"{name} needs raw counts: put them in {name}.layers['counts'] (its X is not integer counts)"
    raise ValueError(msg)


def transfer_labels(
    reference: AnnData,
    query: AnnData,
    label_key: str,
    *,
    backend: Literal["seurat", "scanpy"] = "seurat",
    n_pcs: int = 30,
    key_added: str | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Predict ``reference.obs[label_key]`` for the cells of ``query`` (see the module docstring).

    Writes ``query.obs[f"{key}_{label_key}"]`` (categorical) and ``query.obs[f"{key}_{label_key}_score"]``
    (0-1) with ``key = key_added or backend``, and the settings in ``query.uns[f"{key}_{label_key}"]``.
    Returns the query's copy with ``copy=True``, else None. On an error nothing is written.
    """
    if backend not in BACKENDS:
        msg = f"backend must be 'seurat' or 'scanpy', not {backend!r}"
        raise ValueError(msg)
    for name, ad in (("reference", reference), ("query", query)):
        if not isinstance(ad, AnnData):
            msg = f"{name} must be an AnnData, not {type(ad).__name__}"
            raise TypeError(msg)
    if label_key not in reference.obs:
        msg = f"label_key {label_key!r} is not a column of reference.obs; columns: {list(reference.obs.columns)}"
        raise KeyError(msg)
    labels = reference.obs[label_key]
    if labels.isna().any():
        msg = f"reference.obs[{label_key!r}] has {int(labels.isna().sum())} missing labels; drop those cells first"
        raise ValueError(msg)
    genes = reference.var_names.intersection(query.var_names, sort=False)
    if len(genes) < 50:
        msg = f"reference and query share {len(genes)} genes; label transfer needs the same genes (check var_names)"
        raise ValueError(msg)
    n_pcs = int(n_pcs)
    if not 2 <= n_pcs < min(reference.n_obs, len(genes)):
        msg = f"n_pcs must be between 2 and {min(reference.n_obs, len(genes)) - 1}, got {n_pcs}"
        raise ValueError(msg)
    ref = AnnData(
        _counts(reference, "reference"),
        obs=pd.DataFrame({label_key: labels.astype(str).to_numpy()}, index=reference.obs_names),
        var=pd.DataFrame(index=reference.var_names),
    )[:, genes].copy()
    # a meta.data column for the query too: Seurat's RenameCells (in FindTransferAnchors) fails on an empty meta.data
    qry = AnnData(
        _counts(query, "query"),
        obs=pd.DataFrame({"dataset": "query"}, index=query.obs_names),
        var=pd.DataFrame(index=query.var_names),
    )[:, genes].copy()
    logger.info(
        "label transfer with %s: %d reference cells, %d query cells, %d genes",
        backend,
        ref.n_obs,
        qry.n_obs,
        len(genes),
    )
    run = _seurat if backend == "seurat" else _scanpy
    with warnings.catch_warnings(record=True) as caught:  # R's warnings on the internal objects, kept in uns
        warnings.simplefilter("always")
        predicted, score = run(ref, qry, label_key, n_pcs)
    notes = [str(w.message) for w in caught]
    key = f"{key_added or backend}_{label_key}"
    cats = (
        list(labels.cat.categories)
        if isinstance(labels.dtype, pd.CategoricalDtype)
        else sorted(set(labels.astype(str)))
    )
    cats = [str(c) for c in cats if str(c) in set(predicted)]
    target = query.copy() if copy else query
    target.obs[key] = pd.Categorical(predicted, categories=cats)
    target.obs[f"{key}_score"] = np.asarray(score, dtype=np.float64)
    target.uns[key] = {
        "backend": backend,
        "label_key": label_key,
        "n_pcs": n_pcs,
        "n_genes": len(genes),
        "n_reference": int(reference.n_obs),
        "warnings": notes,
    }
    return target if copy else None


def _seurat(ref: AnnData, qry: AnnData, label_key: str, n_pcs: int) -> tuple[np.ndarray, np.ndarray]:
    from harmonybridge.session import SeuratSession, call_r

    r = SeuratSession(ref, counts="X")
    q = SeuratSession(qry, counts="X")
    r.NormalizeData(verbose=False)
    r.FindVariableFeatures(nfeatures=2000, verbose=False)
    r.ScaleData(verbose=False)
    r.RunPCA(npcs=n_pcs, verbose=False)
    q.NormalizeData(verbose=False)
    dims = range(1, n_pcs + 1)
    anchors = r.call("FindTransferAnchors", query=q, dims=dims, reference_reduction="pca", verbose=False)
    refdata = pd.Series(ref.obs[label_key].to_numpy(), index=ref.obs_names)
    pred = call_r("TransferData", anchors, refdata=refdata, dims=dims, verbose=False)
    pred = pred.reindex(qry.obs_names)
    return pred["predicted.id"].astype(str).to_numpy(), pred["prediction.score.max"].to_numpy(float)


def _scanpy(ref: AnnData, qry: AnnData, label_key: str, n_pcs: int) -> tuple[np.ndarray, np.ndarray]:
    import scanpy as sc
    from scanpy.tools._ingest import Ingest

    for ad in (ref, qry):
        ad.X = ad.X.astype(np.float32)
        sc.pp.normalize_total(ad, target_sum=1e4)
        sc.pp.log1p(ad)
    sc.pp.highly_variable_genes(ref, n_top_genes=min(2000, ref.n_vars))
    hv = ref.var_names[ref.var["highly_variable"].to_numpy()]
    ref, qry = ref[:, hv].copy(), qry[:, hv].copy()
    sc.pp.pca(ref, n_comps=n_pcs, random_state=0)
    sc.pp.neighbors(ref, n_neighbors=15, random_state=0)
    ing = Ingest(ref)
    ing.fit(qry)
    ing.neighbors()
    ing.map_labels(label_key, "knn")
    predicted = np.asarray(ing._obs[label_key].astype(str))
    ref_labels = ref.obs[label_key].astype(str).to_numpy()
    votes = ref_labels[ing._indices]  # query cells x k reference labels
    score = (votes == predicted[:, None]).mean(axis=1)
    return predicted, score


__all__ = ["transfer_labels"]
