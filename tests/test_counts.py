"""The one counts rule (harmonybridge._core.counts) and the callers that use it.

Before it had one home, the demo workflow accepted counts + 1e-9 (np.allclose), three callers
looked at the first million values only, and an empty float sparse matrix was counts for the
workflow and not for conversion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from anndata import AnnData

from harmonybridge._core.counts import is_counts
from harmonybridge.tools._transfer import _counts
from harmonybridge.workflow import _pipeline as wf

MILLION = 1_000_000


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        (np.array([[0, 1], [2, 30]], dtype=np.int32), True),
        (np.array([[0.0, 1.0], [2.0, 30.0]], dtype=np.float32), True),
        (sp.csr_matrix(np.diag([3.0, 0.0, 7.0])), True),
        (np.array([[0, -1]], dtype=np.int64), False),
        (np.array([[0.0, -1.0]]), False),
        (np.array([[0.0, 1.5]]), False),
        (np.array([[1.0 + 1e-9, 2.0]]), False),  # noise on counts is not counts
        (sp.csr_matrix((5, 4), dtype=np.float32), False),  # empty: no stored value says counts
        (sp.csr_matrix((5, 4), dtype=np.int32), False),
        (np.zeros((0, 3)), False),
        (np.array([[1.0, np.nan]]), False),
        (np.array([[1.0, np.inf]]), False),
        (np.array([[True, False]]), False),
        (None, False),
    ],
    ids=[
        "int",
        "float",
        "sparse",
        "neg-int",
        "neg-float",
        "half",
        "1e-9",
        "empty-float",
        "empty-int",
        "no-cells",
        "nan",
        "inf",
        "bool",
        "none",
    ],  # fmt: skip
)
def test_the_counts_rule(matrix, expected):
    assert is_counts(matrix) is expected


def test_every_value_is_looked_at_not_the_first_million():
    values = np.ones(MILLION + 10, dtype=np.float32)
    values[MILLION + 5] = 0.5
    assert not is_counts(values.reshape(-1, 10))
    assert not is_counts(sp.csr_matrix(values.reshape(-1, 10)))


def _adata(X) -> AnnData:
    obs = pd.DataFrame({"batch": ["a", "b"] * (X.shape[0] // 2)}, index=[f"c{i}" for i in range(X.shape[0])])
    return AnnData(X, obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]))


def test_the_workflow_refuses_counts_plus_noise():
    X = np.random.default_rng(0).poisson(2, size=(40, 30)).astype(np.float64) + 1e-9
    with pytest.raises(ValueError, match=r"does not hold raw counts"):
        wf.preprocess(_adata(X), "batch")


def test_label_transfer_looks_past_the_first_million_values():
    X = np.ones((MILLION // 10 + 2, 10), dtype=np.float32)
    X[-1, -1] = 0.5
    with pytest.raises(ValueError, match=r"query needs raw counts"):
        _counts(_adata(X), "query")
    X[-1, -1] = 1.0
    assert _counts(_adata(X), "query") is not None
