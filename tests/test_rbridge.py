"""The vector primitives of the rpy2 boundary (_rbridge): values, layout, NA, and memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import needs_r

from harmonybridge import _rbridge

pytestmark = needs_r("Matrix")


def _r(code: str):
    return _rbridge.robjects().r(code)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_r_double_casts_and_keeps_values(dtype):
    values = (np.arange(1000) % 7 - 3).astype(dtype)
    vec = _rbridge.r_double(values)
    assert vec.typeof == _rbridge.robjects().rinterface.RTYPES.REALSXP
    np.testing.assert_array_equal(_rbridge.to_numpy(vec), values.astype(np.float64))
    assert len(_rbridge.r_double(np.empty(0, dtype))) == 0


def test_r_int_with_na_and_logical():
    values = np.arange(600, dtype=np.int64)
    na = values % 5 == 0
    vec = _rbridge.r_int(values, na=na)
    r_na = np.asarray(_r("is.na")(vec), dtype=bool)
    np.testing.assert_array_equal(r_na, na)
    np.testing.assert_array_equal(_rbridge.to_numpy(vec)[~na], values[~na])
    flags = _rbridge.r_int(values % 2 == 0, kind="logical")
    assert list(_r("class")(flags)) == ["logical"]
    assert int(_r("sum")(flags)[0]) == 300


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_r_double_columns_is_r_matrix_layout(order, dtype):
    arr = np.asarray(np.random.default_rng(0).normal(size=(37, 5)) * 100, dtype=dtype, order=order)
    vec = _rbridge.r_double_columns(arr)
    mat = _r("function(x, n, m) matrix(x, n, m)")(vec, arr.shape[0], arr.shape[1])
    np.testing.assert_array_equal(_rbridge.matrix_to_numpy(mat).T, arr.astype(np.float64))
    with pytest.raises(ValueError, match="expected a 2-D array"):
        _rbridge.r_double_columns(np.zeros(3))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident set from /proc (Linux)")
def test_reserve_grows_r_heap_without_using_memory():
    """reserve() makes R grow its vector heap for what is about to cross, touching no page;
    the reservation is garbage at once, so R's memory in use does not stay up."""
    # R's vector memory: in use, gc trigger, and most used since the last reset, in MiB (a Vcell is 8 bytes)
    vcells = _r('function(reset) { g <- gc(reset = reset); g["Vcells", c(1L, 3L, 5L)] * 8 / 2^20 }')
    used0, trigger0, _ = (float(x) for x in vcells(True))
    rss0 = _rss_mib()
    _rbridge.reserve(512 << 20)
    rss1 = _rss_mib()
    assert rss1 - rss0 < 64, f"reserve touched memory: RSS +{rss1 - rss0:.0f} MiB"
    used1, trigger1, max_used = (float(x) for x in vcells(False))
    assert max_used - used0 >= 500, f"R never held the reservation (max used +{max_used - used0:.0f} MiB)"
    # gc() here may shrink the heap again (R 4.5 does, by a fraction), so only part of the growth stays
    assert trigger1 - trigger0 > 256, f"R's gc trigger grew by {trigger1 - trigger0:.0f} MiB only"
    assert used1 - used0 < 16, f"R still holds {used1 - used0:.0f} MiB after gc()"
    _rbridge.reserve(1000)  # small: nothing to do


def test_calls_never_inline_an_object():
    """Every call binds its arguments to names: the called function's own call stays a few symbols long.

    R code that deparses its call (Seurat's LogSeuratCommand) would otherwise print whole objects.
    """
    ro = _rbridge.robjects()
    env = ro.r('local({ probe <- function(x, ...) nchar(paste(deparse(sys.call()), collapse = "")); environment() })')
    big = _rbridge.r_double(np.arange(20_000, dtype=np.float64) + 0.5)
    inline = int(env["probe"](big)[0])  # rpy2's own call puts the values in the call
    assert inline > 100_000
    bound = _rbridge.call(_rbridge.RFunction("", "probe", where=env), big, label="x", what="probe")
    assert int(bound[0]) < 60


@needs_r()
def test_a_first_call_without_arguments_starts_r():
    """In a fresh process, to_seurat's first R call takes no argument; it must start R itself."""
    import subprocess
    import sys

    code = (
        "import anndata as ad, numpy as np, scipy.sparse as sp, harmonybridge as hb;"
        "a = ad.AnnData(sp.random(20, 10, density=0.5, format='csr', dtype=np.float32, random_state=0));"
        "print(hb.to_seurat(a).rclass[0])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("Seurat")


def test_call_arguments_reach_r_without_a_copy():
    """rpy2 binds a copy of each value into an environment; call() binds the value itself, so a
    large matrix is not copied again in R and two arguments can share one vector."""
    import rpy2.rinterface as ri

    from harmonybridge._rbridge._calls import RFunction

    v = _rbridge.r_int(np.arange(1_000_000))
    env = ri.baseenv["new.env"]()
    ri.evalr("f <- function(a, b) c(utils::capture.output(print(.Internal(address(a)))),"
             " utils::capture.output(print(.Internal(address(b)))))", envir=env)  # fmt: skip
    a, b = (str(x) for x in _rbridge.call(RFunction("base", "f", where=env), v, v, what="addresses"))
    mine = str(ri.evalr("utils::capture.output(print(.Internal(address(x))))", envir=_env_with(v))[0])
    assert a == b, "the same vector passed twice arrived as two copies"
    assert a == mine
    # and R still copies before a change in place: the caller's vector is unchanged
    _rbridge.call(RFunction("base", "g", where=_defined("g <- function(x) { x[1] <- -1L; x }")), v, what="change")
    assert int(v[0]) == 0


def _env_with(value):
    import rpy2.rinterface as ri

    from harmonybridge._rbridge._calls import _bind

    env = ri.baseenv["new.env"]()
    _bind(env, "x", value)
    return env


def _defined(code: str):
    import rpy2.rinterface as ri

    env = ri.baseenv["new.env"]()
    ri.evalr(code, envir=env)
    return env


@needs_r()
def test_a_python_started_after_r_imports_ssl():
    """Starting R must not leave R's library path for child Pythons (Dask's worker processes): with
    it they loaded the system's libpython under this interpreter and failed in _ssl."""
    import subprocess
    import sys

    from harmonybridge._rbridge import robjects

    robjects()
    child = subprocess.run([sys.executable, "-c", "import ssl"], capture_output=True, text=True, check=False)
    assert child.returncode == 0, child.stderr[-500:]
