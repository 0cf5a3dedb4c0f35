"""AnnData <-> Seurat (v4 ``Assay`` and v5 ``Assay5``), exact both ways, with a log.

Public API (re-exported by :mod:`harmonybridge`):

- :func:`to_seurat` ``(adata, *, assay="RNA", assay_version=None, raw="assay", return_log=False)``
- :func:`from_seurat` ``(obj, *, assay=None, join_layers=True, return_log=False)``
- :func:`write_rds` / :func:`read_rds`: the same through an ``.rds`` file (written atomically;
  ``read_rds(path, mudata=True)`` gives a MuData, one modality per assay);
- :func:`to_mudata` / :func:`from_mudata`: a converted object's assays as MuData modalities and back;
  :func:`read` / :func:`write` pick ``.h5ad`` or ``.rds`` by extension.
- :class:`ConversionLog`: every rename, drop or cast of one conversion. Each function returns it
  beside its result when called with ``return_log=True``; whatever was renamed, dropped or cast
  also raises one :class:`~harmonybridge.ConversionWarning` that summarises the log.

The name map (:data:`~._names.NAME_MAP` and :data:`~._names.REDUCTIONS`):

============================================  ===========================================================
AnnData                                       Seurat
============================================  ===========================================================
``X``                                         assay layer ``data`` (sparse as ``dgCMatrix``, dense as matrix)
``layers["counts"]``                          layer ``counts``
``layers["scale.data"]`` (full shape)         layer ``scale.data``
``uns["seurat"]["scale.data"]``               layer ``scale.data`` covering some features only
  (``{"features": names, "data": cells x k}``)  (Seurat's usual variable-feature scale.data)
other ``layers[name]``                        v5: layer ``name``; v4: dropped (logged)
``raw`` (``raw.X``, ``raw.var``)              a second assay ``<assay>_raw`` (``raw="assay"``), or dropped
``obs``                                       ``meta.data`` (column by column, types kept exactly)
``var``                                       the assay's feature metadata
``obs_names`` / ``var_names``                 cell names / feature names
``obsm["X_pca"]``, ``varm["PCs"]``,           reduction ``pca`` (key ``PC_``): embeddings, loadings,
``uns["pca"]["variance"]``                      stdev = sqrt(variance)
``obsm["X_pca_harmony"]``                     reduction ``harmony`` (key ``harmony_``)
``obsm["X_umap"]`` / ``obsm["X_tsne"]``       reduction ``umap`` (``UMAP_``) / ``tsne`` (``tSNE_``)
``obsm["X_<name>"]`` / ``obsm["<name>"]``     reduction ``<name>`` (key from the name, unique)
``obsp[name]``                                Graph ``<assay>_<name>`` (``RNA_connectivities``)
``uns``                                       carried in ``Misc(obj, "harmonybridge")$uns``
============================================  ===========================================================

What Seurat cannot hold as is and what is recorded to undo it, in ``Misc(obj, "harmonybridge")``
(``$record``, a JSON string; ``$uns``, an R list): feature names with ``_`` or ``|`` (Seurat
turns them into ``-``; two names that become one are refused), cell-metadata column names that are
not syntactic in R (Seurat's ``[[<-`` runs ``make.names``), numeric dtypes R lacks (float32, int64,
nullable ``Int*``/``boolean``/``string``, category dtypes), matrix dtypes and formats (CSR/CSC/dense)
and the obsm/obsp/varm keys. :func:`from_seurat` reads that record back, so AnnData -> Seurat ->
AnnData is exact; objects made in R (no record) are read with the defaults of the table.

Layout: :mod:`._log` (the log), :mod:`._names` (names), :mod:`._record` (the typed record),
:mod:`._frames` / :mod:`._matrices` / :mod:`._uns` (values, both directions), :mod:`._py2r`
(AnnData -> Seurat, one helper per slot), :mod:`._r2py` (Seurat -> AnnData, one helper per slot),
:mod:`._extras` (Seurat's slots beyond the name map: identities, variable features, R-only
slots carried serialized, other assays, counts in X), :mod:`._mudata` (every assay as a MuData
modality and back), :mod:`._files` (files). Only
:mod:`harmonybridge._rbridge` touches rpy2.
"""

from ._extras import assays
from ._files import read, read_cells, read_rds, read_seurat, seurat_cell_names, write, write_rds, write_seurat
from ._log import ConversionLog, LogEntry
from ._mudata import from_mudata, to_mudata
from ._names import NAME_MAP, OBSM_OF, REDUCTIONS, obsm_key, reduction_name, seurat_feature_name
from ._py2r import to_seurat
from ._r2py import from_seurat
from ._record import MISC_SLOT, Record

__all__ = [
    "MISC_SLOT",
    "NAME_MAP",
    "OBSM_OF",
    "REDUCTIONS",
    "obsm_key",
    "reduction_name",
    "seurat_feature_name",
    "ConversionLog",
    "LogEntry",
    "Record",
    "assays",
    "from_mudata",
    "from_seurat",
    "read",
    "read_cells",
    "read_rds",
    "read_seurat",
    "seurat_cell_names",
    "to_mudata",
    "to_seurat",
    "write",
    "write_rds",
    "write_seurat",
]
