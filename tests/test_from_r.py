"""The Python side of the R package's entry points (src/harmonybridge/rpackage.py), without R.

R's own tests (r/tests/testthat/test-RunHarmonyPy.R, test-CrossCheckHarmony.R) run them through
reticulate; these check the byte transport and the parameter names on their own.
"""

import numpy as np
import pandas as pd
import pytest

from harmonybridge import rpackage as _from_r
from harmonybridge.harmony.params import HarmonyParams


def test_matrix_bytes_round_trip_in_r_order():
    Z = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    sent = {"data": bytes(np.asfortranarray(Z).T.tobytes()), "nrow": 4, "ncol": 3}  # R's column-major doubles
    got = _from_r.matrix_from_r(sent)
    np.testing.assert_array_equal(got, Z)
    back = _from_r.matrix_to_r(Z)
    assert isinstance(back, bytearray)
    np.testing.assert_array_equal(np.frombuffer(back, dtype=np.float64), Z.T.ravel())
    with pytest.raises(ValueError, match="matrix of 4 x 4 sent with 12 values"):
        _from_r.matrix_from_r({**sent, "ncol": 4})


def test_factor_from_r_keeps_levels_and_codes():
    f = _from_r.factor_from_r({"codes": np.array([1, 0, 1], dtype=np.int32).tobytes(), "levels": ["b", "a"]})
    assert list(f) == ["a", "b", "a"]
    assert list(f.categories) == ["b", "a"]
    one = _from_r.factor_from_r({"codes": np.zeros(2, dtype=np.int32).tobytes(), "levels": "x"})
    assert list(one) == ["x", "x"]


def test_params_from_r_translates_r_names_and_r_numbers():
    p = _from_r.params_from_r(
        {"theta": [1.0, 3.0], "lambda": 0.5, "sigma": 0.2, "nclust": 9.0, "max_iter": 4.0, "ncores": 1.0},
        {
            "alpha": 0.3,
            "block.size": 0.1,
            "max.iter.cluster": 7.0,
            "epsilon.cluster": 1e-4,
            "epsilon.harmony": 1e-3,
            "tau": 2,
        },
        seed=5.0,
    )
    assert p == HarmonyParams(theta=(1.0, 3.0), lamb=0.5, sigma=0.2, nclust=9, max_iter=4, ncores=1, alpha=0.3,
                              block_size=0.1, max_iter_kmeans=7, epsilon_cluster=1e-4, epsilon_harmony=1e-3, tau=2,
                              random_state=5)  # fmt: skip
    with pytest.raises(ValueError, match=r"not Harmony parameters: \['lamb'\]"):
        _from_r.params_from_r({"lamb": 1.0})
    with pytest.raises(ValueError, match=r"not Harmony parameters: \['gamma'\]"):
        _from_r.params_from_r({}, {"gamma": 1e-5})
    assert _from_r.params_from_r({}, {"batch.prop.cutoff": 0.01}).batch_prop_cutoff == 0.01


def test_run_harmonypy_equals_the_python_engine():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 6))
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 300)]
    cat = pd.Categorical(labels)
    meta = {"batch": {"codes": cat.codes.astype(np.int32).tobytes(), "levels": list(cat.categories)}}
    out = _from_r.run_harmonypy({"data": np.asfortranarray(Z).T.tobytes(), "nrow": 300, "ncol": 6}, meta, "batch",
                                {"ncores": 1}, seed=3)  # fmt: skip
    got = np.frombuffer(out["embedding"], dtype=np.float64).reshape(6, 300).T
    from harmonybridge.harmony.engines import run_python

    params = HarmonyParams(ncores=1, random_state=3).resolve(300, 1)
    ref = run_python(Z, pd.DataFrame({"batch": labels}), ["batch"], params, verbose=False)
    np.testing.assert_array_equal(got, ref.embedding)
    assert out["params"]["nclust"] == 10
