"""SeuratSession and call_seurat on real cells (ifnb): calls by name, results back by the name map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scipy.sparse as sp
from helpers import DATA, needs_data, needs_r

import harmonybridge as hb
from harmonybridge.session import call_r

pytestmark = [needs_data("ifnb_2800_counts.h5ad"), needs_r("Seurat")]


@pytest.fixture(scope="module")
def ifnb_small():
    import anndata as ad

    a = ad.read_h5ad(DATA / "ifnb_2800_counts.h5ad")
    a = a[::7].copy()  # 400 cells, both conditions, all cell types
    a = a[:, np.asarray((a.X > 0).sum(0)).ravel() >= 20].copy()
    mt = a.var_names.str.startswith("MT-")
    a.obs["percent_mt"] = np.asarray(a.X[:, mt].sum(1)).ravel() / np.asarray(a.X.sum(1)).ravel() * 100
    return a


@pytest.fixture
def adata(ifnb_small):
    return ifnb_small.copy()


def _snapshot(a):
    return {
        "X": a.X.copy(),
        "obs": a.obs.copy(),
        "var": a.var.copy(),
        "layers": sorted(a.layers),
        "obsm": sorted(a.obsm),
        "varm": sorted(a.varm),
        "obsp": sorted(a.obsp),
        "uns": sorted(a.uns),
    }


def _unchanged(a, snap):
    assert (a.X != snap["X"]).nnz == 0
    pd.testing.assert_frame_equal(a.obs, snap["obs"])
    pd.testing.assert_frame_equal(a.var, snap["var"])
    assert (sorted(a.layers), sorted(a.obsm), sorted(a.varm), sorted(a.obsp), sorted(a.uns)) == (
        snap["layers"],
        snap["obsm"],
        snap["varm"],
        snap["obsp"],
        snap["uns"],
    )


def test_workflow_comes_back_by_the_name_map(adata):
    counts = adata.X.copy()
    with hb.SeuratSession(adata) as s:
        s.NormalizeData(verbose=False)
        s.FindVariableFeatures(nfeatures=300, verbose=False)
        s.ScaleData(verbose=False)
        s.RunPCA(npcs=10, verbose=False)
        s.FindNeighbors(dims=range(1, 11), verbose=False)
        s.FindClusters(verbose=False)
        hv = adata.var_names[:0]  # nothing written back inside the block
        assert "X_pca" not in adata.obsm and (adata.X != counts).nnz == 0
        genes = list(call_r("SeuratObject::VariableFeatures", s)[:40])
        found = s.FindAllMarkers(only_pos=True, features=genes, verbose=False)
        logged = call_r("methods::slot", s.call("SeuratObject::Command", command="NormalizeData.RNA"), "call.string")
    # NormalizeData's data -> X; the counts it started from (integer X) -> layers["counts"]
    lib = np.asarray(counts.sum(1)).ravel()
    expected = sp.diags(1e4 / lib) @ counts
    expected.data = np.log1p(expected.data)
    assert abs(adata.X - expected).max() < 1e-6
    assert (adata.layers["counts"] != counts).nnz == 0
    hv = adata.var["highly_variable"]
    assert hv.sum() == 300 and set(adata.var_names[hv]) >= set(genes)
    assert adata.obsm["X_pca"].shape == (adata.n_obs, 10)
    assert (np.abs(adata.varm["PCs"]).sum(1) > 0).sum() == 300  # loadings of the variable features only
    var = adata.uns["pca"]["variance"]
    assert var.shape == (10,) and np.all(np.diff(var) <= 0)
    assert adata.uns["seurat"]["reductions"]["pca"]["key"] == "PC_"
    clusters = adata.obs["seurat_clusters"]
    assert isinstance(clusters.dtype, pd.CategoricalDtype) and clusters.nunique() > 2
    snn = adata.obsp["snn"]
    assert snn.shape == (adata.n_obs, adata.n_obs) and abs(snn - snn.T).max() < 1e-12
    # the clusters came back cell by cell: cells of one cluster sit together in the PCA
    pcs = adata.obsm["X_pca"][:, :2]
    within = np.mean([pcs[(clusters == c).to_numpy()].std(0).mean() for c in clusters.cat.categories])
    assert within < pcs.std(0).mean()
    # a data.frame comes back as pandas: factor -> categorical, row names -> index; only_pos -> only.pos
    assert isinstance(found, pd.DataFrame) and len(found) > 0
    assert isinstance(found["cluster"].dtype, pd.CategoricalDtype)
    assert set(found["cluster"].cat.categories) <= set(clusters.cat.categories)
    assert (found["avg_log2FC"] > 0).all()
    assert set(found["gene"]) <= set(genes) and all(isinstance(i, str) for i in found.index)
    # Seurat logged a call of symbols, not the object
    assert str(logged[0]) == "NormalizeData(object, verbose = verbose)"
    assert any(e.new == "obs['seurat_clusters']" for e in s.log.entries)


def test_copy_leaves_the_original_alone(adata):
    snap = _snapshot(adata)
    with hb.SeuratSession(adata, copy=True) as s:
        s.NormalizeData(verbose=False)
        s.FindVariableFeatures(nfeatures=200, verbose=False)
    _unchanged(adata, snap)
    assert s.adata is not adata and s.adata.var["highly_variable"].sum() == 200
    assert "counts" in s.adata.layers and s.assays["RNA"] is s.adata


def test_errors_name_the_function_and_leave_adata_unchanged(adata):
    snap = _snapshot(adata)
    with pytest.raises(RuntimeError, match="boom"), hb.SeuratSession(adata) as s:
        s.NormalizeData(verbose=False)
        with pytest.raises(AttributeError, match="no exported R function 'NormaliseData' in Seurat or SeuratObject"):
            s.NormaliseData()
        with pytest.raises(ValueError, match="no exported R function 'Seurat::NoSuchThing' in package 'Seurat'"):
            s.call("Seurat::NoSuchThing")
        with pytest.raises(KeyError, match=r"assay 'ADT' is not in the session's Seurat object; assays: \['RNA'\]"):
            s.FindVariableFeatures(assay="ADT")
        with pytest.raises(
            hb._rbridge.RError, match="(?s)Seurat::NormalizeData failed in R: .*Unkn?own normalization method: Bogus"
        ) as err:
            s.NormalizeData(normalization_method="Bogus")
        assert "normalization method: Bogus" in err.value.r_message
        with pytest.raises(TypeError, match=r"cannot pass a AnnData to R; pass a SeuratSession"):
            s.FindVariableFeatures(features=adata)
        raise RuntimeError("boom")  # an error in the block: nothing is written back
    _unchanged(adata, snap)
    with pytest.raises(KeyError, match="counts='raw' is not a layer of adata"):
        hb.SeuratSession(adata, counts="raw")
    _unchanged(adata, snap)

    # log-normalized X and no counts: NormalizeData is refused in the session's terms, not Seurat's
    normalized = adata.copy()
    sc.pp.normalize_total(normalized)
    sc.pp.log1p(normalized)
    with hb.SeuratSession(normalized) as s:
        for step in ("NormalizeData", "SCTransform"):
            with pytest.raises(ValueError, match=f"Seurat::{step} starts from raw counts, but this session has none"):
                s.call(step)
        s.ScaleData(features=list(normalized.var_names[:200]), verbose=False)  # later steps run on X
        s.RunPCA(features=list(normalized.var_names[:200]), npcs=5, verbose=False)
    assert normalized.obsm["X_pca"].shape == (normalized.n_obs, 5)
    with pytest.raises(ValueError, match="SCTransform starts from raw counts"), hb.SeuratSession(normalized) as s:
        s.SCTransform(verbose=False)


def test_sctransform_gives_an_assay_of_its_own(adata):
    with hb.SeuratSession(adata, copy=True) as s:
        s.SCTransform(vars_to_regress="percent_mt", verbose=False)
        regressed = s.call("SeuratObject::Command", command="SCTransform.RNA", value="vars.to.regress")
        s.RunPCA(npcs=10, verbose=False)
    assert list(regressed) == ["percent_mt"]  # vars_to_regress -> vars.to.regress
    sct = s.assays["SCT"]
    assert sct.n_obs == adata.n_obs and 0 < sct.n_vars <= adata.n_vars
    assert set(sct.var_names) <= set(adata.var_names)
    assert "counts" in sct.layers and not np.allclose(sct.X[:5].toarray(), adata[:5, sct.var_names].X.toarray())
    out = s.adata
    assert {"nCount_SCT", "nFeature_SCT"} <= set(out.obs.columns)
    assert out.obsm["X_pca"].shape == (adata.n_obs, 10)  # PCA of SCT: cells are shared, so obsm too
    assert out.uns["seurat"]["reductions"]["pca"]["assay"] == "SCT"
    assert any(e.where == "DefaultAssay" and e.old == "SCT" for e in s.log.entries)
    assert "X_pca" not in adata.obsm


def test_call_seurat_one_call(adata):
    out = hb.call_seurat(adata, "NormalizeData", verbose=False)
    assert list(out) == ["RNA"] and out["RNA"] is adata and "counts" in adata.layers
    assert np.allclose(np.expm1(adata.X[:3].toarray()).sum(1), 1e4)
    fetched = hb.call_seurat(adata, "SeuratObject::FetchData", vars=["stim", "cell_type", "percent_mt"])
    assert list(fetched.index) == list(adata.obs_names)
    assert isinstance(fetched["cell_type"].dtype, pd.CategoricalDtype)
    assert list(fetched["cell_type"].cat.categories) == list(adata.obs["cell_type"].cat.categories)
    assert np.allclose(fetched["percent_mt"], adata.obs["percent_mt"])


def test_python_values_become_r_values():
    cls = {
        repr(v): str(call_r("base::class", v)[0])
        for v in (None, True, 3, 2.5, "a", [1, 2], [1, 2.5], ["a", "b"], [True, False], range(1, 4), {"x": 1}, [1, "a"])
    }
    assert cls == {
        "None": "NULL",
        "True": "logical",
        "3": "integer",
        "2.5": "numeric",
        "'a'": "character",
        "[1, 2]": "integer",
        "[1, 2.5]": "numeric",
        "['a', 'b']": "character",
        "[True, False]": "logical",
        "range(1, 4)": "integer",
        "{'x': 1}": "list",
        "[1, 'a']": "list",
    }
    assert list(call_r("base::names", {"a": 1, "b": [2, 3]})) == ["a", "b"]
    assert list(call_r("base::levels", pd.Series(pd.Categorical(["x", "y", "x"], categories=["y", "x"])))) == ["y", "x"]
    assert list(call_r("base::rev", range(1, 31)))[:2] == [30, 29]  # range(1, 31) is 1:30


@needs_r("harmony")
def test_any_package_and_names_kept_when_r_spells_them_so(adata):
    with hb.SeuratSession(adata) as s:
        s.NormalizeData(verbose=False)
        s.FindVariableFeatures(nfeatures=300, verbose=False)
        s.ScaleData(verbose=False)
        s.RunPCA(npcs=10, verbose=False)
        # RunHarmony's own argument is max_iter (kept as is); group_by_vars -> group.by.vars
        s.call("harmony::RunHarmony", group_by_vars="stim", max_iter=2, verbose=False)
    emb = adata.obsm["X_pca_harmony"]
    assert emb.shape == (adata.n_obs, 10) and not np.allclose(emb, adata.obsm["X_pca"])


def test_no_call_on_the_stack_holds_the_object(adata):
    """Every call R sees, the outermost included, is of symbols: LogSeuratCommand runs
    as.character() on sys.calls()[[1]] and deparse() on its caller's call."""
    import rpy2.robjects as ro

    from harmonybridge._rbridge import seurat_calls as rs

    s = hb.SeuratSession(adata)
    probe = ro.r("function(object, ...) vapply(sys.calls(), function(cl) sum(nchar(deparse(cl))), numeric(1))")
    fn = rs.SeuratFunction(probe, "test", "probe", ("object", "..."))
    lengths, _ = rs.evaluate(fn, [("", s.obj), ("features", rs.py2r(list(adata.var_names[:500])))])
    assert len(lengths) >= 2 and max(lengths) < 1000, list(lengths)  # one Seurat object deparsed: millions
