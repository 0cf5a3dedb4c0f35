"""Every call into the R half passes its arguments by name, never inlined in the call.

rpy2 puts argument values into the call it evaluates; R code that deparses its call (Seurat's
LogSeuratCommand, behind RunPCA, ProjectDim, FindNeighbors, ...) then prints whole objects: 51 s
instead of 0.05 s on a 350-cell object. Here every function of the R half is traced while the
package's R paths run (conversion both ways, files, Harmony on a Seurat object by both engines,
the R engine, Seurat clustering); the tracer looks at ``sys.call()`` and records any argument
that is a value (an R object) instead of a symbol or a small constant.
"""

from __future__ import annotations

import warnings

import pytest
from helpers import needs_r, synthetic

import harmonybridge as hb
from harmonybridge import ConversionWarning, _rbridge

pytestmark = needs_r("harmony")

#: Installs a tracer on every hb_ function of the R half; returns an environment collecting
#: the calls seen and the inlined arguments (function, argument, class, size).
_TRACE = r"""
function() {
  ns <- asNamespace("harmonybridge")
  seen <- new.env()
  seen$calls <- character(0)
  seen$inlined <- character(0)
  check <- function(call, f) {
    seen$calls <- c(seen$calls, f)
    inspect(call, f)
    # Seurat's LogSeuratCommand runs as.character() on the outermost call of the stack: every
    # call between Python and here must be free of values too
    inspect(sys.calls()[[1L]], paste0(f, " (outermost call)"))
  }
  inspect <- function(call, f) {
    args <- as.list(call)[-1L]
    for (i in seq_along(args)) {
      if (is.symbol(args[[i]])) next  # a name (or the empty symbol of a missing argument)
      a <- args[[i]]
      if (is.symbol(a) || is.language(a) || is.null(a) || is.environment(a) || is.function(a)) next
      if (is.expression(a) || (is.atomic(a) && length(a) <= 1L && !isS4(a))) next
      seen$inlined <- c(seen$inlined, sprintf("%s(%s = <%s, %d bytes>)", f, names(args)[[i]] %||% i,
                                              class(a)[[1L]], as.integer(utils::object.size(a))))
    }
  }
  `%||%` <- function(x, y) if (is.null(x) || !nzchar(x)) y else x
  assign(".hb_trace_check", check, envir = globalenv())
  fns <- Filter(function(n) is.function(get(n, ns)), grep("^hb_", ls(ns), value = TRUE))
  for (f in fns) {
    suppressMessages(trace(f, tracer = bquote(.hb_trace_check(sys.call(), .(f))), where = ns, print = FALSE))
  }
  seen$traced <- fns
  seen
}
"""

_UNTRACE = r"""
function(fns) {
  ns <- asNamespace("harmonybridge")
  for (f in fns) suppressMessages(untrace(f, where = ns))
  rm(".hb_trace_check", envir = globalenv())
}
"""


@pytest.fixture
def traced():
    ro = _rbridge.robjects()
    _rbridge.require("harmonybridge")
    seen = ro.r(_TRACE)()
    try:
        yield seen
    finally:
        ro.r(_UNTRACE)(seen["traced"])


def test_no_r_object_is_inlined_in_a_call(traced, tmp_path):
    adata = synthetic(n_cells=120, n_genes=30)
    adata.obsm["X_umap"] = adata.obsm["X_pca"][:, :2].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        obj = hb.to_seurat(adata)
        hb.from_seurat(obj)
        hb.write_rds(adata, tmp_path / "a.rds")
        hb.read_rds(tmp_path / "a.rds")
    for backend in ("python", "r"):
        hb.run_harmony(obj, "batch", backend=backend, max_iter=2)
    hb.run_harmony(adata, "batch", backend="r", max_iter=2)
    hb.cluster(adata, backend="seurat")
    calls = set(traced["calls"])
    # the paths above reach the R half's conversion, file and Harmony functions
    assert {"hb_to_seurat", "hb_from_seurat", "hb_read_rds", "hb_write_rds", "hb_run_harmony"} <= calls, sorted(calls)
    inlined = sorted(set(traced["inlined"]))
    assert not inlined, f"R objects inlined in calls (pass them by name): {inlined}"
