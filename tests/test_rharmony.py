"""The R engine: the same parameters reach harmony::RunHarmony, and its output is RunHarmony's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge import _rbridge

pytestmark = needs_r("harmony")
DIRECT = Path(__file__).parent / "r" / "run_harmony_direct.R"


def run_in_rscript(adata, keys, tmp_path: Path, **kwargs) -> np.ndarray:
    """RunHarmony in a separate Rscript process, with HarmonyParams' R names and set.seed()."""
    params = hb.HarmonyParams(**kwargs).resolve(adata.n_obs, len(keys)).to_r()
    spec = {"vars_use": keys, "seed": params["seed"], "options": params["options"], **params["args"]}
    spec.pop("early_stop")
    Z = np.ascontiguousarray(adata.obsm["X_pca"], dtype=np.float64)
    Z.tofile(tmp_path / "pcs.f64")
    adata.obs[keys].astype(str).to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    (tmp_path / "p.json").write_text(json.dumps(spec))
    proc = subprocess.run(
        [
            shutil.which("Rscript"),
            str(DIRECT),
            str(tmp_path / "pcs.f64"),
            str(adata.n_obs),
            str(tmp_path / "meta.tsv"),
            str(tmp_path / "p.json"),
            str(tmp_path / "out.f64"),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"Rscript {DIRECT.name} failed:\n{proc.stderr[-2000:]}"
    return np.fromfile(tmp_path / "out.f64", dtype=np.float64).reshape(Z.shape)


def test_equals_runharmony_called_in_r_on_pbmc3500(pbmc3500, tmp_path):
    adata = pbmc3500.copy()
    hb.run_harmony(adata, "donor", backend="r", random_state=1)
    direct = run_in_rscript(pbmc3500, ["donor"], tmp_path, random_state=1)
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], direct)


def test_non_default_parameters_reach_r(small, tmp_path):
    kwargs = {
        "theta": 1.0,
        "sigma": 0.2,
        "lamb": 0.5,
        "nclust": 7,
        "max_iter": 3,
        "max_iter_kmeans": 6,
        "block_size": 0.1,
        "epsilon_cluster": 1e-4,
        "tau": 5,
        "random_state": 9,
    }
    adata = small.copy()
    hb.run_harmony(adata, "batch", backend="r", **kwargs)
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], run_in_rscript(small, ["batch"], tmp_path, **kwargs))
    default = small.copy()
    hb.run_harmony(default, "batch", backend="r", random_state=9)
    assert not np.allclose(default.obsm["X_pca_harmony"], adata.obsm["X_pca_harmony"])
    rec = adata.uns["harmony"]
    assert rec["n_iter"] <= 3
    assert rec["params"]["nclust"] == 7


def test_two_covariates(small, tmp_path):
    adata = small.copy()
    adata.obs["chem"] = pd.Categorical(np.where(np.arange(adata.n_obs) % 2, "v2", "v3"))
    hb.run_harmony(adata, ["batch", "chem"], backend="r", theta=[2, 1])
    direct = run_in_rscript(adata, ["batch", "chem"], tmp_path, theta=(2.0, 1.0))
    np.testing.assert_array_equal(adata.obsm["X_pca_harmony"], direct)


def test_same_seed_same_output(small):
    a, b, c = small.copy(), small.copy(), small.copy()
    for x, seed in ((a, 3), (b, 3), (c, 4)):
        hb.run_harmony(x, "batch", backend="r", random_state=seed)
    np.testing.assert_array_equal(a.obsm["X_pca_harmony"], b.obsm["X_pca_harmony"])
    assert not np.array_equal(a.obsm["X_pca_harmony"], c.obsm["X_pca_harmony"])


def test_record(small):
    adata = small.copy()
    hb.run_harmony(adata, "batch", backend="r", max_iter=4)
    rec = adata.uns["harmony"]
    assert rec["backend"] == "r"
    assert rec["engine"] == "R harmony"
    assert rec["engine_version"] == _rbridge.package_version("harmony")
    assert rec["versions"]["R"] == _rbridge.r_version()
    assert 1 <= rec["n_iter"] <= 4
    assert len(rec["objective"]) == rec["n_iter"] + 1
    assert rec["kmeans_rounds"].sum() + 1 == len(rec["objective_kmeans"])


def test_agrees_with_python_like_r_with_another_seed(pbmc3500):
    """R vs Python differ about as much as R vs R under another seed (their RNGs differ)."""
    runs = {}
    for name, backend, seed in (("r0", "r", 0), ("r1", "r", 1), ("py0", "python", 0)):
        x = pbmc3500.copy()
        hb.run_harmony(x, "donor", backend=backend, random_state=seed)
        runs[name] = x.obsm["X_pca_harmony"]

    def min_r(a, b):
        return min(np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(a.shape[1]))

    between, within = min_r(runs["r0"], runs["py0"]), min_r(runs["r0"], runs["r1"])
    assert between > 0.99
    assert between > within - 0.005


def test_r_errors_carry_r_message():
    """An error raised inside R surfaces as RError with R's own message (here the R half's), and what R printed."""
    adata = synthetic(n_cells=40)
    embedding = _rbridge.float_matrix(adata.obsm["X_pca"], 10, 40)
    no_cells = _rbridge.robjects().r["data.frame"]()  # 40 cells in the embedding, none in meta: refused in R
    with pytest.raises(_rbridge.RError) as caught:
        _rbridge.call(_rbridge.hb().hb_run_harmony, embedding, no_cells, "batch", what="harmony::RunHarmony")
    r_message = caught.value.r_message
    assert "embedding must be a components x cells matrix with one column per row of meta" in r_message
    assert str(caught.value).startswith("harmony::RunHarmony failed in R: ")
    assert r_message in str(caught.value)


def test_missing_r_package_names_the_fix():
    with pytest.raises(
        _rbridge.RPackageMissing, match=r"R package 'surely.not.installed' is not installed; in R: install.packages"
    ):
        _rbridge.require("surely.not.installed")


def test_square_embedding_refused():
    adata = synthetic(n_cells=10, n_pcs=10)
    with pytest.warns(hb.HarmonyBridgeWarning, match="fewer than 10 cells"), pytest.raises(ValueError, match="square"):
        hb.run_harmony(adata, "batch", backend="r", nclust=2)


def test_record_names_the_r_harmony_build(small):
    """uns['harmony'] says which harmony build ran: version, library, and its compiled precision."""
    adata = small.copy()
    hb.run_harmony(adata, "batch", backend="r")
    versions = adata.uns["harmony"]["versions"]
    library = Path(versions["harmony_library"])
    assert (library / "harmony" / "DESCRIPTION").is_file()
    assert f"Version: {versions['harmony']}" in (library / "harmony" / "DESCRIPTION").read_text()
    so = library / "harmony" / "libs" / "harmony.so"
    linked = subprocess.run(
        ["nm", "-D", "--undefined-only", str(so)], capture_output=True, text=True, check=True
    ).stdout
    expected = "single" if " sgemm_" in linked else "double" if " dgemm_" in linked else "unknown"
    assert versions["harmony_precision"] == expected != "unknown"


def test_doctor_reports_the_same_build(small):
    from harmonybridge.cli._doctor import harmony_build

    adata = small.copy()
    hb.run_harmony(adata, "batch", backend="r")
    versions = adata.uns["harmony"]["versions"]
    check = harmony_build()
    assert check.ok and check.version == versions["harmony"]
    assert check.note == f"{versions['harmony_precision']} precision, loaded from {versions['harmony_library']}"
