"""Every assay of a Seurat object as a MuData modality (read_rds(mudata=True)), and back to Seurat.

The object is Seurat's own (tests/r/build_seurat_objects.R: SCTransform with an ADT-like assay
and its own reduction and graphs); check_seurat_roundtrip.R compares what comes back through a
``.h5mu`` file with the original, slot by slot, and runs Seurat's next steps on it.
"""

from __future__ import annotations

import json
import warnings

import mudata
import numpy as np
import pytest
from helpers import R_SCRIPTS, needs_r, rscript

import harmonybridge as hb
from harmonybridge import ConversionWarning

pytestmark = needs_r("Seurat")


@pytest.fixture(scope="module")
def sct(seurat_objects):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        adata = hb.read_rds(seurat_objects / "sct.rds")
        mdata = hb.read_rds(seurat_objects / "sct.rds", mudata=True)
    return adata, mdata


def test_one_modality_per_assay(sct):
    adata, mdata = sct
    assert isinstance(mdata, mudata.MuData)
    assert list(mdata.mod) == ["SCT", "RNA", "ADT"]
    assert mdata.n_obs == adata.n_obs
    assert list(mdata.obs.columns) == list(adata.obs.columns)
    assert mdata.obs.equals(adata.obs)
    sct_mod, adt = mdata.mod["SCT"], mdata.mod["ADT"]
    assert "assays" not in sct_mod.uns["seurat"], "the other assays live in their modalities only"
    assert "X_pca" in sct_mod.obsm and "X_apca" in adt.obsm
    np.testing.assert_array_equal(adt.obsm["X_apca"], hb.assays(adata)["ADT"].obsm["X_apca"])
    assert {"nn", "snn"} <= set(adt.obsp)
    assert adt.obs.shape[1] == 0, "the cells' metadata is kept once, in mdata.obs"


def test_h5mu_back_to_seurat_keeps_every_slot(sct, seurat_objects, tmp_path):
    _, mdata = sct
    mdata.write(tmp_path / "sct.h5mu")
    again = mudata.read_h5mu(tmp_path / "sct.h5mu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        _, log = hb.write_rds(again, tmp_path / "back.rds", return_log=True)
    check = R_SCRIPTS / "check_seurat_roundtrip.R"
    rscript(str(check), "object", str(seurat_objects / "sct.rds"), str(tmp_path / "back.rds"), str(tmp_path / "c.json"))
    out = json.loads((tmp_path / "c.json").read_text())
    logged = {e.where for e in log.entries}
    lost = {k: v for k, v in out["slots"].items() if v != "identical" and k not in logged}
    # read_rds's own log is not at hand here: what it logs is what the plain AnnData trip logs too
    _, log_in = hb.read_rds(seurat_objects / "sct.rds", return_log=True)
    lost = {k: v for k, v in lost.items() if k not in {e.where for e in log_in.entries}}
    assert not lost, f"changed through .h5mu without a log entry: {lost}"
    assert out["steps"]["back"] == {"NormalizeData": "ok", "RunPCA": "ok", "FindMarkers": "ok"}


def test_modalities_must_share_cells(sct):
    _, mdata = sct
    cut = mudata.MuData({"SCT": mdata.mod["SCT"], "ADT": mdata.mod["ADT"][:10].copy()})
    with pytest.raises(ValueError, match="'ADT' does not hold the same cells"):
        hb.to_seurat(cut)
    with pytest.raises(KeyError, match="'protein' is not a modality of the MuData; modalities: \\['SCT', 'ADT'\\]"):
        hb.from_mudata(cut, assay="protein")
