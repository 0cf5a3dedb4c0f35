"""Harmony on a Seurat object: the same result RunHarmony gives on that object, from either engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import needs_r

import harmonybridge as hb
from harmonybridge import _rbridge

pytestmark = needs_r("harmony")


@pytest.fixture(scope="module")
def fixtures():
    ro = _rbridge.robjects()
    env = ro.r["new.env"]()
    ro.r["sys.source"](str(Path(__file__).parent / "r" / "seurat_fixtures.R"), envir=env)
    return env


@pytest.fixture(scope="module")
def seurat_pbmc(pbmc3500, fixtures):
    ro = _rbridge.robjects()
    Z = pbmc3500.obsm["X_pca"]
    return fixtures["pcs_seurat"](
        _rbridge.float_matrix(Z, Z.shape[1], Z.shape[0]),
        ro.StrVector(list(pbmc3500.obs_names)),
        "donor",
        ro.StrVector(pbmc3500.obs["donor"].astype(str).tolist()),
    )


def _embedding(obj, reduction):
    ro = _rbridge.robjects()
    return np.asarray(ro.r("SeuratObject::Embeddings")(obj, reduction=reduction))


def test_r_engine_on_seurat_equals_runharmony(seurat_pbmc, fixtures, pbmc3500):
    ro = _rbridge.robjects()
    ours = hb.run_harmony(seurat_pbmc, "donor", backend="r", random_state=3, ncores=1)
    theirs = fixtures["direct_runharmony"](seurat_pbmc, "donor", 3, 2.0, 100, 1)
    np.testing.assert_array_equal(_embedding(ours, "harmony"), _embedding(theirs, "harmony"))
    for fn in ("Key", "Stdev"):
        a = ro.r(f"SeuratObject::{fn}")(ro.r("`[[`")(ours, "harmony"))
        b = ro.r(f"SeuratObject::{fn}")(ro.r("`[[`")(theirs, "harmony"))
        assert list(a) == list(b), fn
    assert list(ro.r("SeuratObject::Key")(ro.r("`[[`")(ours, "harmony"))) == ["harmony_"]
    assert list(ro.r["rownames"](ro.r("SeuratObject::Embeddings")(ours, reduction="harmony"))) == list(
        pbmc3500.obs_names
    )
    record = json.loads(ro.r("SeuratObject::Misc")(ours, "harmony")[0])
    assert record["engine"] == "R harmony" and record["reduction_save"] == "harmony"
    # the caller's object is untouched (R copies on modify)
    assert "harmony" not in list(ro.r("SeuratObject::Reductions")(seurat_pbmc))


def test_python_engine_on_seurat_equals_harmonypy(seurat_pbmc, pbmc3500):
    import harmonypy

    ours = hb.run_harmony(seurat_pbmc, "donor", backend="python")
    raw = harmonypy.run_harmony(pbmc3500.obsm["X_pca"], pbmc3500.obs, "donor", verbose=False)
    np.testing.assert_array_equal(_embedding(ours, "harmony"), raw.Z_corr)


def test_custom_reduction_names(seurat_pbmc):
    ro = _rbridge.robjects()
    out = hb.run_harmony(seurat_pbmc, "donor", basis="X_pca", key_added="X_hm", max_iter=2)
    assert "hm" in list(ro.r("SeuratObject::Reductions")(out))


def test_seurat_errors(seurat_pbmc):
    with pytest.raises(
        _rbridge.RError, match=r"batch key 'sample' not in the Seurat object's meta.data; available columns: .*donor"
    ):
        hb.run_harmony(seurat_pbmc, "sample")
    with pytest.raises(
        _rbridge.RError,
        match=r"reduction 'umap' not in the Seurat object; available: pca. Run Seurat::RunPCA\(\) first",
    ):
        hb.run_harmony(seurat_pbmc, "donor", basis="X_umap")


def test_seurat_errors_name_cells_in_r_terms(pbmc3500, fixtures):
    ro = _rbridge.robjects()
    Z = pbmc3500.obsm["X_pca"].copy()
    Z[[1, 40]] = np.nan
    obj = fixtures["pcs_seurat"](
        _rbridge.float_matrix(Z, Z.shape[1], Z.shape[0]),
        ro.StrVector(list(pbmc3500.obs_names)),
        "donor",
        ro.StrVector(pbmc3500.obs["donor"].astype(str).tolist()),
    )
    cells = f"'{pbmc3500.obs_names[1]}', '{pbmc3500.obs_names[40]}'"
    with pytest.raises(
        ValueError,
        match=rf"Embeddings\(obj, 'pca'\) has NaN or inf in 2 cells \(first: {cells}\); "
        r"rerun RunPCA, or drop those cells: obj <- subset",
    ):
        hb.run_harmony(obj, "donor")


def test_key_added_naming_the_basis_reduction_refused(seurat_pbmc):
    """key_added='X_pca' (or 'pca') on a Seurat object would replace reduction 'pca' itself (issue 19)."""
    for key in ("X_pca", "pca"):
        with pytest.raises(ValueError, match=r"names reduction 'pca', the one Harmony reads.*choose another key_added"):
            hb.run_harmony(seurat_pbmc, "donor", key_added=key)


def test_r_engine_on_seurat_keeps_the_embedding_in_r(seurat_pbmc, fixtures, monkeypatch):
    """backend="r" on a Seurat object: the reduction is corrected where it is; no cells x PCs matrix crosses
    between R and Python either way (issue 20: before, it crossed R -> Python -> R -> Python -> R)."""
    from harmonybridge._rbridge import _rhalf

    crossed = []
    to_py, to_r = _rhalf.matrix_to_numpy, _rhalf.float_matrix

    def spy_to_py(vec, dtype=None):
        out = to_py(vec, dtype)
        crossed.append(("R -> Python", out.shape))
        return out

    def spy_to_r(values, nrow, ncol):
        crossed.append(("Python -> R", (ncol, nrow)))
        return to_r(values, nrow, ncol)

    monkeypatch.setattr(_rhalf, "matrix_to_numpy", spy_to_py)
    monkeypatch.setattr(_rhalf, "float_matrix", spy_to_r)
    ours = hb.run_harmony(seurat_pbmc, "donor", backend="r", random_state=3, ncores=1)
    assert crossed == []
    theirs = fixtures["direct_runharmony"](seurat_pbmc, "donor", 3, 2.0, 100, 1)
    np.testing.assert_array_equal(_embedding(ours, "harmony"), _embedding(theirs, "harmony"))
    # a Python engine needs the cells in Python: the embedding crosses once each way
    hb.run_harmony(seurat_pbmc, "donor", backend="python", max_iter=2)
    assert [way for way, _ in crossed] == ["R -> Python", "Python -> R"]
