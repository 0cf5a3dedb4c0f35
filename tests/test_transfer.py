"""Label transfer with Seurat and with scanpy: the two 3' chemistries of symphony's PBMCs label the 5' cells."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import DATA, needs_data, needs_r

import harmonybridge as hb

pytestmark = needs_data("symphony_pbmcs_1200_counts.h5ad")


@pytest.fixture(scope="module")
def split():
    import anndata as ad

    a = ad.read_h5ad(DATA / "symphony_pbmcs_1200_counts.h5ad")
    return a[a.obs["donor"].isin(["3pv1", "3pv2"])].copy(), a[a.obs["donor"] == "5p"].copy()


def _accuracy(query, key):
    return float((query.obs[key].astype(str) == query.obs["cell_type"].astype(str)).mean())


@pytest.mark.parametrize(
    ("backend", "floor"),
    [pytest.param("seurat", 0.9, marks=needs_r("Seurat"), id="seurat"), pytest.param("scanpy", 0.9, id="scanpy")],
)
def test_transfer_labels(split, backend, floor):
    ref, query = split[0], split[1].copy()
    before = query.obs.copy()
    out = hb.transfer_labels(ref, query, "cell_type", backend=backend, copy=True)
    pd.testing.assert_frame_equal(query.obs, before)  # copy=True: the query is not touched
    key = f"{backend}_cell_type"
    pred, score = out.obs[key], out.obs[f"{key}_score"]
    assert isinstance(pred.dtype, pd.CategoricalDtype) and set(pred.cat.categories) <= set(
        ref.obs["cell_type"].cat.categories
    )
    assert (
        score.between(0, 1 + 1e-6).all() and score.median() > 0.5
    )  # Seurat's prediction.score.max can pass 1 by rounding
    assert _accuracy(out, key) >= floor
    # the score means something: right calls are more confident than wrong ones
    right = (pred.astype(str) == out.obs["cell_type"].astype(str)).to_numpy()
    assert score[right].mean() > score[~right].mean()
    assert out.uns[key]["backend"] == backend and out.uns[key]["n_reference"] == ref.n_obs


def test_bad_input(split):
    ref, query = split[0], split[1].copy()
    with pytest.raises(KeyError, match=r"label_key 'celltype' is not a column of reference.obs; columns: \["):
        hb.transfer_labels(ref, query, "celltype")
    other = query.copy()
    other.var_names = [f"x{i}" for i in range(other.n_vars)]
    with pytest.raises(ValueError, match="share 0 genes"):
        hb.transfer_labels(ref, other, "cell_type")
    with pytest.raises(ValueError, match="backend must be 'seurat' or 'scanpy'"):
        hb.transfer_labels(ref, query, "cell_type", backend="symphony")
    assert list(query.obs.columns) == list(split[1].obs.columns)
