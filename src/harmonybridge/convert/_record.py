"""The record that makes AnnData -> Seurat -> AnnData exact: what Seurat cannot hold as is.

:func:`~._py2r.to_seurat` fills a :class:`Record` and stores it as JSON in
``Misc(obj, "harmonybridge")$record``; :func:`~._r2py.from_seurat` reads it back. Objects made
in R carry none: :meth:`Record.absent` stands in, with every field empty, and ``found`` False.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harmonybridge import _rbridge

MISC_SLOT = "harmonybridge"
RECORD_FORMAT = 1
#: fields left out of the JSON when unset (as in format 1 written before the record was typed)
_OPTIONAL = ("scale_data", "raw", "varm_PCs")


@dataclass
class Record:
    """Names, dtypes, formats and keys of one AnnData, as :func:`to_seurat` recorded them.

    Matrix specs (``X``, ``layers[name]``, ``obsm[reduction]``, ``obsp[graph]``) are dicts of
    ``format`` (csr/csc/dense), ``dtype`` and ``sparse_class``; frame records (``obs``, ``var``)
    are ``[original name, R name, dtype spec]`` per column.
    """

    assay: str
    version: str = ""
    format: int = RECORD_FORMAT
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the AnnData feature names when Seurat rewrote some ('_' and '|' become '-'), else None
    features: list[str] | None = None
    obs_index: dict[str, Any] = field(default_factory=dict)
    var_index: dict[str, Any] = field(default_factory=dict)
    X: dict[str, Any] | None = None
    #: {"where": "layer"} or {"where": "uns", "dtype", "features", "drop_seurat"?}
    scale_data: dict[str, Any] | None = None
    obs: list[list[Any]] | None = None
    var: list[list[Any]] | None = None
    #: the raw assay: {"assay", "X", "var", "features", "var_index"}
    raw: dict[str, Any] | None = None
    #: reduction name -> {"key": obsm key, "dtype", "sparse"}
    obsm: dict[str, dict[str, Any]] = field(default_factory=dict)
    varm_PCs: dict[str, Any] | None = None
    #: graph name -> {"key": obsp key, **matrix spec}
    obsp: dict[str, dict[str, Any]] = field(default_factory=dict)
    found: bool = field(default=True, compare=False)

    @classmethod
    def absent(cls, assay: str) -> Record:
        """The stand-in for an object made in R: nothing recorded."""
        return cls(assay=assay, found=False)

    def to_json(self) -> str:
        out = asdict(self)
        del out["found"]
        for name in _OPTIONAL:
            if out[name] is None:
                del out[name]
        return json.dumps(out)

    @classmethod
    def from_json(cls, text: str, assay: str) -> Record:
        """The record in ``text``, or :meth:`absent` when it is of another format or assay."""
        data = json.loads(text)
        if data.get("format") != RECORD_FORMAT or data.get("assay") != assay:
            return cls.absent(assay)
        known = {f.name for f in fields(cls)} - {"found"}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_misc(self, uns_r: Any) -> Any:
        """The R list stored as ``Misc(obj, "harmonybridge")``: the record and the carried ``uns``."""
        return _rbridge.r_list({"record": _rbridge.r_strings([self.to_json()]), "uns": uns_r})

    @classmethod
    def from_misc(cls, misc: Any, assay: str) -> tuple[Record, Any]:
        """The record and the carried ``uns`` (an R list, or None) of ``Misc(obj, "harmonybridge")``."""
        if _rbridge.is_null(misc) or _rbridge.rtype(misc) != "VECSXP":
            return cls.absent(assay), None
        rec_r = _rbridge.get(misc, "record")
        if _rbridge.is_null(rec_r):
            return cls.absent(assay), None
        rec = cls.from_json(str(rec_r[0]), assay)
        return rec, _rbridge.get(misc, "uns")
