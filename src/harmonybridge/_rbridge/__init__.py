"""The one package that imports rpy2: the R session, vectors, R lists, and calls into the R half.

Nothing here runs at import time: R starts on the first call that needs it. Conversions are
written with rpy2's low-level vectors (never a global ``activate()``); every R function is
called by name with its arguments bound to names (:mod:`._calls`); R errors become
:class:`RError` carrying R's message; R's console output goes to the ``harmonybridge.R`` logger.

- :mod:`._session`: starting R, R packages, the console, the errors.
- :mod:`._calls`: :func:`call` and :func:`hb` (functions read from ``asNamespace``).
- :mod:`._vectors`: NumPy <-> R vectors, strings, factors (one copy each way).
- :mod:`._lists`: R lists, attributes, NULL, classes.
- :mod:`._rhalf`: the R half's functions as the rest of the package uses them (Python in, out).
- :mod:`._seurat` (as ``seurat_calls``): any R function called by name on a Seurat session's
  object (Python values in, pandas/NumPy out), its R side the R half's ``r/R/session.R``; used by
  :mod:`harmonybridge.session`.
"""

from . import _seurat as seurat_calls
from ._calls import Namespace, RFunction, call, hb, namespace
from ._install import INSTALLED_STAMP, shipped_stamp
from ._install import PACKAGE as R_PACKAGE
from ._lists import attr, get, is_null, is_r_object, names, null, r_list, rclass, rtype, set_attr, set_class
from ._rhalf import (
    REmbedding,
    batch_frame,
    load_rdata,
    read_rds,
    run_harmony,
    seurat_add_harmony,
    seurat_cluster,
    seurat_embedding,
    seurat_harmony_path,
    seurat_integrate,
    seurat_meta,
    seurat_numeric,
    write_rds,
)
from ._session import (
    R_INSTALL_HINTS,
    RBridgeError,
    RError,
    RPackageMissing,
    console,
    has_package,
    package_version,
    r_version,
    require,
    robjects,
)
from ._vectors import (
    NA_INTEGER,
    factor,
    float_matrix,
    integers,
    logicals,
    matrix_to_numpy,
    na_real,
    py_bytes,
    py_strings,
    r_double,
    r_double_columns,
    r_int,
    r_raw,
    r_strings,
    reserve,
    str_list,
    to_numpy,
)

__all__ = [
    "REmbedding",
    "INSTALLED_STAMP",
    "R_PACKAGE",
    "shipped_stamp",
    "seurat_calls",
    "write_rds",
    "seurat_meta",
    "seurat_numeric",
    "seurat_embedding",
    "seurat_harmony_path",
    "seurat_integrate",
    "seurat_cluster",
    "seurat_add_harmony",
    "run_harmony",
    "read_rds",
    "load_rdata",
    "batch_frame",
    "NA_INTEGER",
    "R_INSTALL_HINTS",
    "Namespace",
    "RBridgeError",
    "RError",
    "RFunction",
    "RPackageMissing",
    "attr",
    "call",
    "console",
    "factor",
    "float_matrix",
    "get",
    "has_package",
    "hb",
    "integers",
    "is_null",
    "is_r_object",
    "logicals",
    "matrix_to_numpy",
    "na_real",
    "names",
    "namespace",
    "null",
    "package_version",
    "py_strings",
    "r_double",
    "r_double_columns",
    "r_int",
    "r_list",
    "py_bytes",
    "r_raw",
    "r_strings",
    "r_version",
    "rclass",
    "require",
    "reserve",
    "robjects",
    "rtype",
    "set_attr",
    "set_class",
    "str_list",
    "to_numpy",
]
