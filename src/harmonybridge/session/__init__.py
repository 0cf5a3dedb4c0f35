"""Seurat workflows on an AnnData: a session that converts once and calls R functions by name.

::

    with hb.SeuratSession(adata) as s:          # adata's counts (layers["counts"], or integer X) and X
        s.NormalizeData()
        s.FindVariableFeatures(nfeatures=2000)
        s.ScaleData()
        s.RunPCA(npcs=30)
        markers = s.FindAllMarkers(only_pos=True)     # a pandas DataFrame
    adata.obsm["X_pca"], adata.var["highly_variable"]   # written back when the block ends

    hb.call_seurat(adata, "SCTransform")        # the one-call form

What comes back (:meth:`SeuratSession.to_anndata`, also run when the ``with`` block ends
without an error) is what the calls added or changed, following the name map of
:func:`~harmonybridge.to_seurat`: the assay's ``data`` -> ``X`` (when X held the counts they
move to ``layers["counts"]`` first), new layers -> ``layers`` (a ``scale.data`` of some
features only -> ``uns["seurat"]["scale.data"]``), new or changed ``meta.data`` columns ->
``obs``, feature metadata -> ``var``, ``VariableFeatures`` -> ``var["highly_variable"]``,
reductions -> ``obsm`` (``pca`` -> ``X_pca``, ``umap`` -> ``X_umap``, ``harmony`` ->
``X_pca_harmony``, other -> ``X_<name>``), their loadings -> ``varm`` (``pca`` -> ``PCs``,
other -> ``<name>_loadings``), ``pca``'s stdev -> ``uns["pca"]["variance"]`` and each
reduction's key, assay and stdev -> ``uns["seurat"]["reductions"]``, graphs -> ``obsp``
(``RNA_snn`` -> ``snn``; another assay's keep their name, ``SCT_snn``), changed ``Idents`` ->
``obs["ident"]`` unless equal to a returned column. A new assay with its own features
(SCTransform's ``SCT``, an ADT assay) becomes an AnnData of its own in ``s.assays[name]``
(AnnData has no slot for a second feature space; ``s.assays`` also holds the main assay's
result under its name). Whatever is not brought back gets a line in ``s.log``.
"""

from ._session import RWarning, SeuratSession, call_r, call_seurat
from ._writeback import OBSM_KEYS

__all__ = ["OBSM_KEYS", "RWarning", "SeuratSession", "call_r", "call_seurat"]
