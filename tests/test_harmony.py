"""run_harmony / harmony_integrate with the Python engine: results, records and every input error."""

from __future__ import annotations

import harmonypy
import numpy as np
import pandas as pd
import pytest
from anndata import AnnData
from helpers import synthetic

import harmonybridge as hb
from harmonybridge.harmony.engines import check_harmonypy_version


def snapshot(adata: AnnData) -> dict:
    """Everything run_harmony could touch, to prove an error left the AnnData as it was."""
    return {
        "obsm": {k: np.array(v, copy=True) for k, v in adata.obsm.items()},
        "uns": set(adata.uns.keys()),
        "obs": adata.obs.copy(),
    }


def assert_unchanged(adata: AnnData, snap: dict) -> None:
    assert set(adata.obsm.keys()) == set(snap["obsm"])
    for k, v in snap["obsm"].items():
        np.testing.assert_array_equal(np.asarray(adata.obsm[k]), v)
    assert set(adata.uns.keys()) == snap["uns"]
    pd.testing.assert_frame_equal(adata.obs, snap["obs"])


def test_identical_to_raw_harmonypy_on_pbmc3500(pbmc3500):
    adata = pbmc3500.copy()
    hb.run_harmony(adata, "donor")
    raw = harmonypy.run_harmony(pbmc3500.obsm["X_pca"], pbmc3500.obs, "donor", verbose=False)
    assert adata.obsm["X_pca_harmony"].shape == (3500, 30)
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], raw.Z_corr)
    rec = adata.uns["harmony"]
    np.testing.assert_array_equal(rec["objective"], np.asarray(raw.objective_harmony))
    assert rec["n_iter"] == len(raw.kmeans_rounds)


@pytest.mark.parametrize("seed", [1, 42])
def test_same_seed_same_output_other_seed_other_output(small, seed):
    a, b, c = small.copy(), small.copy(), small.copy()
    hb.run_harmony(a, "batch", random_state=seed)
    hb.run_harmony(b, "batch", random_state=seed)
    hb.run_harmony(c, "batch", random_state=seed + 1)
    np.testing.assert_array_equal(a.obsm["X_pca_harmony"], b.obsm["X_pca_harmony"])
    assert not np.array_equal(a.obsm["X_pca_harmony"], c.obsm["X_pca_harmony"])


def test_non_default_parameters_match_raw_harmonypy(small):
    kwargs = {
        "theta": 1.0,
        "sigma": 0.2,
        "lamb": 0.5,
        "nclust": 7,
        "max_iter": 3,
        "max_iter_kmeans": 6,
        "block_size": 0.1,
        "epsilon_cluster": 1e-4,
        "random_state": 5,
    }
    adata = small.copy()
    hb.run_harmony(adata, "batch", **kwargs)
    raw = harmonypy.run_harmony(
        small.obsm["X_pca"],
        small.obs,
        "batch",
        verbose=False,
        theta=1.0,
        sigma=0.2,
        lamb=0.5,
        nclust=7,
        max_iter_harmony=3,
        max_iter_kmeans=6,
        block_size=0.1,
        epsilon_cluster=1e-4,
        random_state=5,
    )
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], raw.Z_corr)


def test_record(small):
    adata = small.copy()
    hb.run_harmony(adata, "batch", theta=1.5, max_iter=3)
    rec = adata.uns["harmony"]
    assert rec["engine"] == "harmonypy"
    assert rec["engine_version"] == harmonypy.__version__
    assert rec["backend"] == "python"
    assert rec["batch_key"] == ["batch"]
    assert rec["basis"] == "X_pca" and rec["key_added"] == "X_pca_harmony"
    assert rec["params"]["theta"] == [1.5]
    assert rec["params"]["max_iter"] == 3
    assert rec["params"]["nclust"] == 10  # resolved, not "auto"
    assert rec["params"]["lamb"] == "auto"
    assert 1 <= rec["n_iter"] <= 3
    assert len(rec["objective"]) == rec["n_iter"] + 1
    assert isinstance(rec["converged"], bool)
    # a converged run's last relative change is below epsilon_harmony; a capped one is not
    obj = rec["objective"]
    change = (obj[-2] - obj[-1]) / abs(obj[-2])
    assert rec["converged"] == (change < 1e-2)


def test_record_survives_h5ad(small, tmp_path):
    adata = small.copy()
    hb.run_harmony(adata, "batch")
    hb.write(adata, tmp_path / "a.h5ad")
    back = hb.read(tmp_path / "a.h5ad")
    np.testing.assert_array_equal(back.obsm["X_pca_harmony"], adata.obsm["X_pca_harmony"])
    params = hb.HarmonyParams.from_record(back.uns["harmony"]["params"])
    assert params == hb.HarmonyParams.from_record(adata.uns["harmony"]["params"])


def test_copy_leaves_input_alone(small):
    snap = snapshot(small)
    out = hb.run_harmony(small, "batch", copy=True, key_added="corrected")
    assert_unchanged(small, snap)
    assert "corrected" in out.obsm
    assert hb.run_harmony(small, "batch") is None
    assert "X_pca_harmony" in small.obsm


def test_two_covariates_with_theta_each(small):
    adata = small.copy()
    adata.obs["chem"] = pd.Categorical(np.where(np.arange(adata.n_obs) % 2, "v2", "v3"))
    hb.run_harmony(adata, ["batch", "chem"], theta=[2, 1])
    raw = harmonypy.run_harmony(small.obsm["X_pca"], adata.obs, ["batch", "chem"], theta=[2, 1], verbose=False)
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], raw.Z_corr)
    assert adata.uns["harmony"]["batch_key"] == ["batch", "chem"]


def test_corrects_batch_effect(small):
    """Batches shifted apart come together: the distance between batch means shrinks."""
    adata = small.copy()
    hb.run_harmony(adata, "batch")

    def spread(Z):
        means = np.stack([Z[(adata.obs["batch"] == b).to_numpy()].mean(0) for b in adata.obs["batch"].cat.categories])
        return np.linalg.norm(means - means.mean(0), axis=1).mean()

    assert spread(adata.obsm["X_pca_harmony"]) < 0.5 * spread(adata.obsm["X_pca"])


def test_harmony_integrate_drop_in(small):
    """scanpy's signature, scanpy's quick start: only the import changes."""
    a, b = small.copy(), small.copy()
    hb.harmony_integrate(a, "batch", max_iter_harmony=4)
    hb.run_harmony(b, "batch", max_iter=4)
    np.testing.assert_array_equal(a.obsm["X_pca_harmony"], b.obsm["X_pca_harmony"])
    assert a.obsm["X_pca_harmony"].shape == small.obsm["X_pca"].shape
    hb.harmony_integrate(a, "batch", basis="X_pca", adjusted_basis="X_other")
    assert "X_other" in a.obsm


def test_harmony_integrate_copy_returns_the_corrected_copy(small):
    """copy=True returns the corrected copy and leaves the input as it was (scanpy's convention)."""
    a, b = small.copy(), small.copy()
    out = hb.harmony_integrate(a, "batch", copy=True)
    assert isinstance(out, AnnData) and out is not a
    assert "X_pca_harmony" not in a.obsm and "harmony" not in a.uns
    hb.run_harmony(b, "batch")
    np.testing.assert_array_equal(out.obsm["X_pca_harmony"], b.obsm["X_pca_harmony"])
    assert hb.harmony_integrate(a, "batch") is None
    assert "X_pca_harmony" in a.obsm


# --- errors: each names the key or value and the fix; the AnnData stays as it was -------------
def _with(adata: AnnData, **obs) -> AnnData:
    out = adata.copy()
    for k, v in obs.items():
        out.obs[k] = v
    return out


ERRORS = [
    pytest.param(
        lambda a: a,
        {"batch_key": "donor"},
        KeyError,
        r"batch key 'donor' not in adata.obs; available columns: \['batch', 'cell_type'\]",
        id="batch-key-missing",
    ),
    pytest.param(
        lambda a: a, {"batch_key": ["batch", "batch"]}, ValueError, "lists a column twice", id="batch-key-twice"
    ),
    pytest.param(lambda a: a, {"batch_key": 3}, TypeError, "batch_key must be an obs column name", id="batch-key-type"),
    pytest.param(
        lambda a: _with(a, batch=pd.Categorical([None] * 5 + ["b0"] * (a.n_obs - 5))),
        {},
        ValueError,
        r"adata.obs\['batch'\] has 5 cells with missing labels",
        id="missing-labels",
    ),
    pytest.param(lambda a: _with(a, batch="only"), {}, ValueError, r"one batch only \('only'\)", id="one-batch"),
    pytest.param(
        lambda a: a,
        {"basis": "X_umap"},
        KeyError,
        r"'X_umap' not in adata.obsm; available: \['X_pca'\]",
        id="basis-missing",
    ),
    pytest.param(lambda a: _drop_pca(a), {}, KeyError, r"Run sc.pp.pca\(adata\) first", id="pca-missing"),
    pytest.param(lambda a: _nan(a), {}, ValueError, r"NaN or inf in 1 cells \(first: 'c3'\)", id="nan"),
    pytest.param(lambda a: _inf(a), {}, ValueError, "NaN or inf in 1 cells", id="inf"),
    pytest.param(lambda a: a[:5].copy(), {}, ValueError, "Harmony needs at least 6 cells, got 5", id="few-cells"),
    pytest.param(lambda a: _one_pc(a), {}, ValueError, "at least 2 components", id="one-pc"),
    pytest.param(
        lambda a: a, {"backend": "julia"}, ValueError, r"backend must be one of \['python', 'r', 'dask'\]", id="backend"
    ),
    pytest.param(lambda a: a, {"theta": -2}, ValueError, "theta must be >= 0", id="bad-param"),
    pytest.param(
        lambda a: a, {"nclust": 1000}, ValueError, "nclust=1000 must be smaller than the number of cells", id="nclust"
    ),
]


def _drop_pca(a):
    a = a.copy()
    del a.obsm["X_pca"]
    a.obsm["X_other"] = np.zeros((a.n_obs, 2))
    return a


def _nan(a):
    a = a.copy()
    a.obsm["X_pca"][3, 1] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a.obsm["X_pca"][7, 0] = np.inf
    return a


def _one_pc(a):
    a = a.copy()
    a.obsm["X_pca"] = a.obsm["X_pca"][:, :1]
    return a


@pytest.mark.parametrize(("make", "kwargs", "error", "match"), ERRORS)
def test_errors_leave_adata_unchanged(small, make, kwargs, error, match):
    adata = make(small)
    snap = snapshot(adata)
    kwargs = {"batch_key": "batch", **kwargs}
    with pytest.raises(error, match=match):
        hb.run_harmony(adata, **kwargs)
    assert_unchanged(adata, snap)


@pytest.mark.filterwarnings("ignore:Harmony \\(harmonypy\\) did not converge")  # 300 one-cell batches, 1 iteration
def test_continuous_looking_key_warns(small):
    adata = small.copy()
    adata.obs["depth"] = np.arange(adata.n_obs, dtype=float)
    with pytest.warns(
        hb.HarmonyBridgeWarning, match=r"adata.obs\['depth'\] is numeric with 300 distinct values"
    ) as got:
        hb.run_harmony(adata, "depth", nclust=5, max_iter=1)
    # the warning names the user's line (this file), as Python's own warnings do, not harmonybridge's
    assert {w.filename for w in got if issubclass(w.category, hb.HarmonyBridgeWarning)} == {__file__}


def test_numeric_batch_with_few_levels_does_not_warn(small):
    adata = small.copy()
    adata.obs["lane"] = np.arange(adata.n_obs) % 4
    hb.run_harmony(adata, "lane", max_iter=1)  # filterwarnings=error would fail on a warning


def test_not_an_anndata():
    with pytest.raises(TypeError, match="expected an AnnData, got ndarray"):
        hb.run_harmony(np.zeros((10, 2)), "batch")


@pytest.mark.parametrize(
    ("found", "ok"), [("2.1.0", True), ("2.2.1", True), ("0.0.10", False), ("2.0.0", False), (None, False)]
)
def test_harmonypy_version_check(found, ok):
    if ok:
        check_harmonypy_version(found)
    else:
        with pytest.raises(ImportError, match="harmonypy"):
            check_harmonypy_version(found)


def test_pca_from_scanpy_float32():
    """A float32 X_pca, as scanpy writes it, gives the same result as harmonypy on it."""
    adata = synthetic(seed=3)
    assert adata.obsm["X_pca"].dtype == np.float32
    hb.run_harmony(adata, "batch")
    raw = harmonypy.run_harmony(adata.obsm["X_pca"], adata.obs, "batch", verbose=False)
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], raw.Z_corr)


def test_batch_with_few_cells_warns(small):
    adata = small.copy()
    adata.obs["batch"] = adata.obs["batch"].cat.add_categories(["tiny", "unused"])
    adata.obs.loc[adata.obs_names[0], "batch"] = "tiny"
    match = r"adata.obs\['batch'\] has 1 batch\(es\) with fewer than 10 cells: 'tiny' \(1 cell\)\. Harmony corrects"
    with pytest.warns(hb.HarmonyBridgeWarning, match=match):
        hb.run_harmony(adata, "batch")
    assert "X_pca_harmony" in adata.obsm  # a warning, not an error; the unused category is not a batch


@pytest.mark.parametrize("call", ["run_harmony", "harmony_integrate"])
def test_key_added_equal_to_basis_refused(call):
    """Harmony's result must never silently replace the uncorrected PCA (issue 19)."""
    adata = synthetic()
    before = adata.obsm["X_pca"].copy()
    with pytest.raises(ValueError, match=r"'X_pca' is the basis 'X_pca'.*overwrite the uncorrected adata.obsm"):
        if call == "run_harmony":
            hb.run_harmony(adata, "batch", key_added="X_pca")
        else:
            hb.harmony_integrate(adata, "batch", adjusted_basis="X_pca")
    np.testing.assert_array_equal(adata.obsm["X_pca"], before)
    assert "harmony" not in adata.uns
