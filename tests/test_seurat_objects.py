"""Seurat objects as users have them, built by Seurat itself: .rds -> .h5ad -> .rds keeps what Seurat needs.

The objects come from tests/r/build_seurat_objects.R (the standard pipeline, RenameIdents hand
labels, SCTransform with an ADT-like second assay, and on Seurat 5 split layers). Each goes
.rds -> AnnData -> .h5ad -> AnnData -> .rds through the public API; a separate Rscript
(tests/r/check_seurat_roundtrip.R, plain Seurat) compares every slot with the original and runs
Seurat's next steps on what came back. A slot passes when it is identical() or when the
conversion log names it (an entry whose ``where`` is the slot as R spells it, e.g.
``VariableFeatures(RNA)``, ``Misc(pca)``, ``@commands``).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData
from helpers import DATA, DATA_MISSING, R_SCRIPTS, SEURAT_COUNTS, needs_r, rscript

import harmonybridge as hb
from harmonybridge import ConversionLog, ConversionWarning, _rbridge

pytestmark = needs_r("Seurat")
CHECK = R_SCRIPTS / "check_seurat_roundtrip.R"


def _seurat5() -> bool:
    try:
        return int(_rbridge.package_version("SeuratObject").split(".")[0]) >= 5
    except _rbridge.RBridgeError:
        return False


V5_ONLY = pytest.mark.skipif(not _seurat5(), reason="split layers need SeuratObject >= 5 (the trixie stack)")
OBJECTS = ["standard", "idents", "sct", pytest.param("v5split", marks=V5_ONLY)]
#: Kinds of slot check_seurat_roundtrip.R reports (a key's text before "(", layers grouped).
KINDS = [
    "Assays",
    "DefaultAssay",
    "class",
    "layers",
    "VariableFeatures",
    "feature metadata",
    "meta.data",
    "Idents",
    "Misc",
    "@tools",
    "@commands",
    "Reductions",
    "Embeddings",
    "Loadings",
    "Stdev",
    "Key",
    "global",
    "Graphs",
]
STEPS = ["NormalizeData", "RunPCA", "FindMarkers"]


@dataclass
class Trip:
    name: str
    adata: AnnData  # what read_rds gave
    logs: list[ConversionLog]
    slots: dict[str, str]
    steps: dict[str, dict[str, str]]
    ident: str

    def logged(self) -> set[str]:
        return {e.where for log in self.logs for e in log.entries}


_TRIPS: dict[str, Trip] = {}


def _kind(key: str) -> str:
    head = key.split("(", 1)[0]
    return "layers" if re.fullmatch(r"(counts|data|scale\.data)(\..+)?", head) else head


@pytest.fixture(params=OBJECTS)
def trip(request, seurat_objects, tmp_path_factory) -> Trip:
    """``name``.rds -> AnnData -> .h5ad -> AnnData -> .rds, compared in R with the original (once per object)."""
    name = request.param
    if name not in _TRIPS:
        src = seurat_objects / f"{name}.rds"
        work = tmp_path_factory.mktemp(f"trip-{name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConversionWarning)
            adata, log_in = hb.read_rds(src, return_log=True)
            hb.write(adata, work / f"{name}.h5ad")
            again = hb.read(work / f"{name}.h5ad")
            _, log_out = hb.write_rds(again, work / f"{name}.back.rds", return_log=True)
        rscript(str(CHECK), "object", str(src), str(work / f"{name}.back.rds"), str(work / "check.json"))
        out = json.loads((work / "check.json").read_text())
        _TRIPS[name] = Trip(name, adata, [log_in, log_out], out["slots"], out["steps"], out["ident"])
    return _TRIPS[name]


@pytest.mark.parametrize("kind", KINDS)
def test_slot_identical_or_logged(trip, kind):
    keys = [k for k in trip.slots if _kind(k) == kind]
    if kind == "layers":  # every object has at least counts and data
        assert len(keys) >= 2, f"{trip.name}: no layers compared: {sorted(trip.slots)}"
    else:
        assert keys, f"{trip.name}: check_seurat_roundtrip.R reported no {kind!r}: {sorted(trip.slots)}"
    logged = trip.logged()
    lost = {k: trip.slots[k] for k in keys if trip.slots[k] != "identical" and k not in logged}
    assert not lost, f"{trip.name}: changed without a log entry naming it: {lost}"


@pytest.mark.parametrize("step", STEPS)
def test_seurat_next_step_runs(trip, step):
    assert trip.steps["original"][step] == "ok", f"the fixture itself: {trip.steps['original'][step]}"
    assert trip.steps["back"][step] == "ok", (
        f"{step} on {trip.name} after .rds -> .h5ad -> .rds: {trip.steps['back'][step]}"
    )


def _r(code: str):
    return _rbridge.robjects().r(code)


def test_variable_features_become_highly_variable(seurat_objects):
    adata = hb.read_rds(seurat_objects / "standard.rds")
    expected = list(_r(f'SeuratObject::VariableFeatures(readRDS("{seurat_objects / "standard.rds"}"))'))
    assert "highly_variable" in adata.var, list(adata.var.columns)
    assert adata.var["highly_variable"].dtype == bool
    assert sorted(adata.var_names[adata.var["highly_variable"]]) == sorted(expected)


@pytest.mark.skipif(not (DATA / SEURAT_COUNTS).exists(), reason=f"{DATA_MISSING}: {SEURAT_COUNTS}")
def test_scanpy_highly_variable_become_variable_features():
    import scanpy as sc

    adata = hb.read(DATA / SEURAT_COUNTS)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=300, flavor="seurat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        obj = hb.to_seurat(adata)
    features = list(_rbridge.robjects().r("SeuratObject::VariableFeatures")(obj))
    assert sorted(features) == sorted(adata.var_names[adata.var["highly_variable"]].str.replace("_", "-"))


def test_identities_become_an_obs_column_with_levels(seurat_objects):
    path = seurat_objects / "idents.rds"
    adata = hb.read_rds(path)
    levels = list(_r(f'levels(SeuratObject::Idents(readRDS("{path}")))'))
    values = list(_r(f'as.character(SeuratObject::Idents(readRDS("{path}")))'))
    assert "ident" in adata.obs, list(adata.obs.columns)
    assert list(adata.obs["ident"].cat.categories) == levels
    assert adata.obs["ident"].astype(str).tolist() == values


def test_pca_variance_ratio_for_scanpy(seurat_objects):
    import matplotlib

    matplotlib.use("Agg")
    import scanpy as sc

    path = seurat_objects / "standard.rds"
    adata = hb.read_rds(path)
    stdev = np.asarray(_r(f'SeuratObject::Stdev(readRDS("{path}")[["pca"]])'))
    total = float(_r(f'SeuratObject::Misc(readRDS("{path}")[["pca"]])$total.variance')[0])
    np.testing.assert_allclose(adata.uns["pca"]["variance"], stdev**2)
    np.testing.assert_allclose(adata.uns["pca"]["variance_ratio"], stdev**2 / total)
    sc.pl.pca_variance_ratio(adata, show=False)


def test_counts_h5ad_puts_counts_where_seurat_expects_them(seurat_objects, tmp_path):
    adata = hb.read(DATA / SEURAT_COUNTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        _, log = hb.write_rds(adata, tmp_path / "counts.rds", return_log=True)
    rscript(str(CHECK), "counts", str(seurat_objects / "input"), str(tmp_path / "counts.rds"), str(tmp_path / "c.json"))
    out = json.loads((tmp_path / "c.json").read_text())
    assert {k: v for k, v in out["slots"].items() if v != "identical"} == {}
    assert out["steps"]["original"] == dict.fromkeys(STEPS, "ok"), "the reference itself"
    assert out["steps"]["back"] == dict.fromkeys(STEPS, "ok")
    assert any(e.where == "X" and "counts" in str(e) for e in log.entries), str(log)


def test_other_assays_as_anndata(seurat_objects):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        adata = hb.read_rds(seurat_objects / "sct.rds")
    assert adata.uns["seurat"]["assay"] == "SCT"
    others = hb.assays(adata)
    assert sorted(others) == ["ADT", "RNA"]
    adt = others["ADT"]
    assert adt.shape == (adata.n_obs, 12) and list(adt.obs_names) == list(adata.obs_names)
    assert adt.var_names[0].startswith("ADT-")
    assert "X_apca" in adt.obsm and adt.obsm["X_apca"].shape == (adata.n_obs, 8)
    assert {"nn", "snn"} <= set(adt.obsp)
    assert "counts" in adt.layers
    # reductions are the object's: the ADT PCA is in the default view too, its assay recorded
    assert "X_pca" in adata.obsm and adata.uns["seurat"]["reduction_assays"] == {"X_apca": "ADT"}
    np.testing.assert_array_equal(adata.obsm["X_apca"], adt.obsm["X_apca"])


SAME_AS_CALCN = """function(o) {
  n <- SeuratObject:::CalcN(o[["RNA"]])
  identical(unname(o$nCount_RNA), unname(n$nCount)) && identical(unname(o$nFeature_RNA), unname(n$nFeature))
}"""


def _r_vector(code: str, obj) -> list:
    return list(_rbridge.robjects().r(code)(obj))


def test_x_layer_says_which_layer_holds_what():
    from helpers import synthetic

    adata = synthetic(n_cells=40, n_genes=15)  # integer counts in X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        auto, log = hb.to_seurat(adata, return_log=True)
        as_data = hb.to_seurat(adata, x_layer="data")
    assert any(e.where == "X" and "counts" in str(e) for e in log.entries), str(log)
    counts_sum = """function(o) {
      a <- o[["RNA"]]
      m <- if (inherits(a, "StdAssay")) SeuratObject::LayerData(a, layer = "counts")
      else SeuratObject::GetAssayData(a, slot = "counts")
      sum(m)
    }"""
    assert _r_vector(counts_sum, auto) == [adata.X.sum()]
    assert "nCount_RNA" in _r_vector("function(o) colnames(o[[]])", auto)
    assert "nCount_RNA" not in _r_vector("function(o) colnames(o[[]])", as_data)
    assert _r_vector(SAME_AS_CALCN, auto) == [True]
    back = hb.from_seurat(auto)  # exact: the counts layer and computed columns were not in the AnnData
    assert [k for k in back.layers if k is not None] == [] and list(back.obs.columns) == list(adata.obs.columns)
    np.testing.assert_array_equal(back.X.toarray(), adata.X.toarray())
    adata.X = adata.X * 0.5
    with pytest.raises(ValueError, match=r"x_layer='counts' but adata.X is not integer-valued"):
        hb.to_seurat(adata, x_layer="counts")
    with pytest.raises(ValueError, match=r"x_layer must be 'auto', 'data' or 'counts', not 'raw'"):
        hb.to_seurat(adata, x_layer="raw")


def _with_a_duplicate_entry(X):
    """X (canonical CSR counts) with one count split in two stored entries of the same gene."""
    k = int(np.flatnonzero(X.data >= 2)[0])
    row = int(np.searchsorted(X.indptr, k, side="right") - 1)
    data, indices, indptr = np.insert(X.data, k, 1), np.insert(X.indices, k, X.indices[k]), X.indptr.copy()
    data[k + 1] -= 1
    indptr[row + 1 :] += 1
    m = sp.csr_matrix((data, indices, indptr), shape=X.shape)
    assert not m.has_canonical_format and m.nnz == X.nnz + 1
    return m


@pytest.mark.parametrize(
    "kind",
    ["csr", "csc", "dense", "csr with a stored zero", "csr with a duplicate entry", "csc with a duplicate entry"],
)
def test_cell_totals_are_calcns_ncount_and_nfeature(kind):
    """nCount_/nFeature_ computed from X in Python, for every matrix kind, as SeuratObject's CalcN gives them."""
    from helpers import synthetic

    from harmonybridge.convert._matrices import _row_sums, cell_totals

    X = synthetic(n_cells=60, n_genes=25).X.tocsr()
    if kind == "csr with a stored zero":
        X.data[[0, 5, 9]] = 0  # stored but zero: not a feature of its cell
    m = {"csc": X.tocsc(), "dense": X.toarray()}.get(kind, X)
    if "duplicate" in kind:  # what R receives has them summed (r_matrix), so CalcN counts the gene once
        m = _with_a_duplicate_entry(X)
        m = m.tocsc() if kind.startswith("csc") else m
    n_count, n_feature = cell_totals(m)
    assert n_count.dtype == np.float64 and n_feature.dtype == np.int32
    np.testing.assert_array_equal(n_count, X.toarray().sum(axis=1))
    np.testing.assert_array_equal(n_feature, (X.toarray() > 0).sum(axis=1))
    # CSR sums run over blocks of rows; blocks of about 7 values cut the 60 rows into many
    np.testing.assert_array_equal(_row_sums(X.data, X.indptr, np.float64, block=7), n_count)
    adata = AnnData(X=m, obs=pd.DataFrame(index=[f"c{i}" for i in range(60)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        obj = hb.to_seurat(adata)
    assert _r_vector(SAME_AS_CALCN, obj) == [True]


def test_idents_from_any_obs_column():
    from helpers import synthetic

    adata = synthetic(n_cells=40, n_genes=15)
    obj = hb.to_seurat(adata, idents="cell_type", x_layer="data")
    assert _r_vector("function(o) levels(SeuratObject::Idents(o))", obj) == list(adata.obs["cell_type"].cat.categories)
    assert _r_vector("function(o) as.character(SeuratObject::Idents(o))", obj) == list(
        adata.obs["cell_type"].astype(str)
    )
    with pytest.raises(KeyError, match=r"idents='tissue' is not an obs column; available: \['batch', 'cell_type'\]"):
        hb.to_seurat(adata, idents="tissue")
