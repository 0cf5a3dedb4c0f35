"""Fuzzed round trips: generated AnnData objects through to_seurat/from_seurat and through files.

Extends the exact property test of test_convert.py (whose column strategy it reuses) to what
users meet: X of bool, int, float32/float64 with NaN and infinities, CSR/CSC/dense, unicode cell
and gene names, names Seurat rewrites, categorical columns with unused levels (a batch with 0
cells), counts layers, reductions, graphs; in memory (v4 and, on Seurat 5, v5 assays) and
through ``.h5ad`` and ``.rds`` files. The rule: what comes back is exact, or every part that
changed is named in a conversion log; never a silent change, and the caller's object unchanged.
Objects with 0 cells or 0 genes are refused up front with an error naming both counts.
One R process serves every example (rpy2); HB_FUZZ_EXAMPLES scales the counts.
"""

from __future__ import annotations

import os
import re
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_convert import NAME_CHARS, _same, _so_v5, columns

import harmonybridge as hb
from harmonybridge import ConversionWarning, _rbridge

pytestmark = pytest.mark.skipif(not _rbridge.has_package("SeuratObject"), reason="needs R with SeuratObject")

SCALE = float(os.environ.get("HB_FUZZ_EXAMPLES", 1))
ASSAY_VERSIONS = ["v4", "v5"] if _so_v5() else ["v4"]
UNICODE = NAME_CHARS + "αβγ中文ñÅ🙂"


def fuzz(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=True,  # the same cases on every run: CI is reproducible (HB_FUZZ_EXAMPLES for more)
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )


@st.composite
def fuzz_adatas(draw) -> AnnData:
    n = draw(st.integers(1, 25))
    g = draw(st.integers(1, 15))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.bool_]))
    fmt = draw(st.sampled_from(["csr", "csc", "dense"]))
    density = draw(st.sampled_from([0.0, 0.2, 0.6, 1.0]))
    X = sp.random(n, g, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = np.round(X.data * 50) + 1
    if dtype in (np.float32, np.float64) and draw(st.booleans()) and X.nnz:
        X.data[rng.integers(0, X.nnz, max(1, X.nnz // 5))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.5]))
    X = X.astype(dtype)
    X = X.toarray() if fmt == "dense" else (X.tocsc() if fmt == "csc" else X)
    obs_names = [f"c{i}-" + draw(st.text(UNICODE, max_size=3)) for i in range(n)]
    var_names = [f"g{i}" + draw(st.sampled_from(["", "_x", "|y", "-é", "α"])) for i in range(g)]
    obs_cols = draw(st.lists(st.text(UNICODE, min_size=1, max_size=5), max_size=3, unique=True))
    obs = pd.DataFrame({c: draw(columns(n)).set_axis(obs_names) for c in obs_cols}, index=obs_names)
    # a batch column with a level no cell has
    obs["batch"] = pd.Categorical(rng.choice(["b1", "b2"], n), categories=["b1", "b2", "b_empty"])
    var = pd.DataFrame({"vc": draw(columns(g)).set_axis(var_names)}, index=var_names)
    a = AnnData(X=X, obs=obs, var=var)
    if draw(st.booleans()):
        a.layers["counts"] = sp.csr_matrix(np.abs(np.nan_to_num(np.asarray(_dense(X), dtype=np.float64))))
    if draw(st.booleans()):
        k = draw(st.integers(1, 4))
        a.obsm["X_pca"] = rng.normal(size=(n, k)).astype(draw(st.sampled_from([np.float32, np.float64])))
        a.varm["PCs"] = rng.normal(size=(g, k))
    if draw(st.booleans()):
        a.obsm["X_umap"] = rng.normal(size=(n, 2))
    if draw(st.booleans()):
        a.obsp["connectivities"] = sp.random(n, n, density=0.2, format="csr", random_state=rng)
    return a


def _dense(m):
    return m.toarray() if sp.issparse(m) else np.asarray(m)


def _changed(a: AnnData, b: AnnData) -> list[str]:
    """The parts of ``a`` that ``b`` does not hold exactly (``part/key``), by test_convert's exact rule."""
    out = []

    def check(x, y, where):
        try:
            _same(x, y, where)
        except AssertionError:
            out.append(where)

    check(a.X, b.X, "X")
    for part in ("layers", "obsm", "varm", "obsp"):
        x, y = getattr(a, part), getattr(b, part)
        for k in set(x.keys()) | set(y.keys()):
            if k is None:
                continue
            if k not in x or k not in y:
                out.append(f"{part}/{k}")
            else:
                check(x[k], y[k], f"{part}/{k}")
    for part in ("obs", "var"):
        x, y = getattr(a, part), getattr(b, part)
        if not x.index.equals(y.index):
            out.append(f"{part}/index")
        for c in set(x.columns) | set(y.columns):
            if c not in x.columns or c not in y.columns:
                out.append(f"{part}/{c}")
            else:
                check(x[[c]].reset_index(drop=True), y[[c]].reset_index(drop=True), f"{part}/{c}")
    return out


def _mentioned(where: str, logs) -> bool:
    part, _, key = where.partition("/")
    text = " ".join(f"{e.where} {e.old} {e.new}" for log in logs for e in log.entries)
    if key in ("", "index"):
        return part in text or ("names" in text and part in ("obs", "var")) or "features" in text
    return key in text or (part == "varm" and "loadings" in text) or (part == "obsp" and "graph" in text.lower())


def _exact_or_logged(original: AnnData, back: AnnData, logs) -> None:
    silent = [w for w in _changed(original, back) if not _mentioned(w, logs)]
    assert not silent, f"changed without a log entry: {silent}\n" + "\n".join(str(log) for log in logs)


@fuzz(200)
@given(adata=fuzz_adatas(), version=st.sampled_from(ASSAY_VERSIONS))
def test_in_memory_exact_or_logged(adata, version):
    original = adata.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        warnings.simplefilter("error", RuntimeWarning)  # numpy's warnings must not reach the caller
        try:
            obj, log1 = hb.to_seurat(adata, assay_version=version, return_log=True)
        except ValueError as e:  # SeuratObject < 5.4 cannot build a v5 assay of one cell or feature
            assert re.search(r"one cell or one feature needs SeuratObject >= \S+; pass assay_version='v4'", str(e))
            _same(adata, original, "caller's object")
            return
        back, log2 = hb.from_seurat(obj, return_log=True)
    _exact_or_logged(original, back, [log1, log2])
    _same(adata, original, "caller's object")


@fuzz(80)
@given(adata=fuzz_adatas())
def test_through_h5ad_and_rds_exact_or_logged(adata, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    original = adata.copy()
    with warnings.catch_warnings(), ad.settings.override(allow_write_nullable_strings=True):
        warnings.simplefilter("ignore", ConversionWarning)
        warnings.simplefilter("error", RuntimeWarning)  # numpy's warnings must not reach the caller
        hb.write(adata, folder / "a.h5ad")
        read = hb.read(folder / "a.h5ad")  # anndata's own file (it stores strings as categoricals)
        try:
            _, log1 = hb.write_rds(read, folder / "a.rds", return_log=True)
        except ValueError as e:  # as above (write_rds picks the installed SeuratObject's assay version)
            assert re.search(r"one cell or one feature needs SeuratObject >= \S+; pass assay_version='v4'", str(e))
            assert not (folder / "a.rds").exists()
            return
        back, log2 = hb.read_rds(folder / "a.rds", return_log=True)
    _exact_or_logged(read, back, [log1, log2])
    _same(adata, original, "caller's object")


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0, 0)])
def test_empty_is_refused_with_the_counts(shape):
    a = AnnData(
        np.zeros(shape, dtype=np.float32),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(shape[0])]),
        var=pd.DataFrame(index=[f"g{i}" for i in range(shape[1])]),
    )
    with pytest.raises(ValueError, match=rf"{shape[0]} cells x {shape[1]} genes"):
        hb.to_seurat(a)


def test_write_h5ad_leaves_the_callers_string_columns(tmp_path):
    """anndata's writer turned the caller's object columns into categoricals in place (found by the fuzz)."""
    obs = pd.DataFrame({"s": np.array(["x", "y", "x"], dtype=object)}, index=["a", "b", "c"])
    a = AnnData(np.ones((3, 2), dtype=np.float32), obs=obs)
    before = a.obs["s"].dtype
    hb.write(a, tmp_path / "a.h5ad")
    assert a.obs["s"].dtype == before
    assert list(hb.read(tmp_path / "a.h5ad").obs["s"]) == ["x", "y", "x"]
