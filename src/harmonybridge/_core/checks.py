"""Input checks shared by every entry point. They never modify the AnnData."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .warnings import warn

MIN_CELLS = 6
#: A batch with fewer cells than this gets a warning: Harmony estimates its correction in every cluster
#: from the batch's own cells, and a handful of cells gives a correction that is mostly noise.
MIN_CELLS_PER_BATCH = 10
#: A numeric batch column with more levels than this (and than 10% of cells) looks continuous.
CONTINUOUS_LEVELS = 50


@dataclass(frozen=True)
class Voice:
    """How errors name things, in the caller's language.

    ``python`` (the default): ``adata.obs['batch']``, fixes as Python code. ``seurat``: a Seurat
    object given to the Python API: meta.data columns and reductions by their R names, fixes as
    R code. ``cli``: the command line: flags (``--batch``, ``--basis``) and the input file.
    """

    kind: str = "python"
    source: str = ""  #: the input file (cli)
    reductions: dict[str, str] = field(default_factory=dict)  #: obsm key -> Seurat reduction (seurat input)

    def obs(self, key: str) -> str:
        if self.kind == "seurat":
            return f"meta.data column {key!r} (obj${key})"
        if self.kind == "cli":
            return f"column {key!r} of {self.source}"
        return f"adata.obs[{key!r}]"

    def obsm(self, basis: str) -> str:
        if self.kind == "seurat" or (self.kind == "cli" and basis in self.reductions):
            name = self.reductions.get(basis, basis)
            return (
                f"Embeddings(obj, {name!r})"
                if self.kind == "seurat"
                else f"reduction {name!r} of {self.source} (--basis {basis})"
            )
        if self.kind == "cli":
            return f"obsm[{basis!r}] of {self.source} (--basis {basis})"
        return f"adata.obsm[{basis!r}]"

    def batch_flag(self, key: str) -> str:
        return f"--batch {key}" if self.kind == "cli" else f"batch key {key!r}"

    def drop_missing(self, key: str) -> str:
        if self.kind == "seurat":
            return f"obj <- subset(obj, cells = colnames(obj)[!is.na(obj${key})])"
        if self.kind == "cli":
            return "label those cells or drop them from the input file"
        return f"adata = adata[adata.obs[{key!r}].notna()].copy()"

    def as_category(self, key: str) -> str:
        if self.kind == "seurat":
            return f"obj${key} <- factor(obj${key})"
        if self.kind == "cli":
            return f"store {key!r} as text or categories in the input file"
        return f"adata.obs[{key!r}] = adata.obs[{key!r}].astype('category')"

    def drop_cells(self) -> str:
        if self.kind == "seurat":
            return "rerun RunPCA, or drop those cells: obj <- subset(obj, cells = setdiff(colnames(obj), bad))"
        if self.kind == "cli":
            return "recompute the embedding or drop those cells from the input file"
        return "recompute the PCA or drop those cells"

    def drop_batch(self, key: str, value: str) -> str:
        if self.kind == "seurat":
            return f"obj <- subset(obj, cells = colnames(obj)[obj${key} != {value!r}])"
        if self.kind == "cli":
            return f"drop the cells of {key} {value!r} from the input file"
        return f"adata = adata[adata.obs[{key!r}] != {value!r}].copy()"

    def make_unique(self) -> str:
        if self.kind == "cli":
            return (
                "rerun with --make-unique (it appends -1, -2, ... to repeats, as anndata's obs_names_make_unique does)"
            )
        return (
            "make them unique first: adata.obs_names_make_unique(), "
            "or read the file with hb.read(path, make_unique=True)"
        )


_VOICE: contextvars.ContextVar[Voice | None] = contextvars.ContextVar("harmonybridge_voice", default=None)
_PYTHON = Voice()


def voice() -> Voice:
    """The language errors speak now."""
    return _VOICE.get() or _PYTHON


@contextlib.contextmanager
def speaking(v: Voice, *, keep_cli: bool = True) -> Iterator[Voice]:
    """Errors raised in the block speak ``v``'s language (the command line's, if it is the caller and ``keep_cli``)."""
    outer = voice()
    if keep_cli and outer.kind == "cli" and v.kind != "cli":
        v = Voice("cli", outer.source, {**outer.reductions, **v.reductions})
    token = _VOICE.set(v)
    try:
        yield v
    finally:
        _VOICE.reset(token)


def _names(labels: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(repr(str(x)) for x in list(labels)[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def unique_cells(names: pd.Index) -> None:
    """Refuse repeated cell names, naming them, with the fix in the caller's terms."""
    if names.is_unique:
        return
    dup = names[names.duplicated(keep=False)]
    counts = pd.Series(dup).value_counts(sort=False)
    shown = ", ".join(f"{str(n)!r} x{c}" for n, c in list(counts.items())[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    v = voice()
    where = v.source or ("adata.obs_names" if v.kind == "python" else "the cell names")
    fix = v.make_unique()
    msg = (
        f"{len(counts)} cell name(s) occur more than once in {where} ({shown}{more}); Harmony and Seurat "
        f"need one name per cell; {fix}"
    )
    raise ValueError(msg)


def cell_names(adata: AnnData, *, make_unique: bool, refuse: bool = True) -> int:
    """The one rule for repeated cell names, for every reader and command: suffixed ``-1``, ``-2``, ...
    with ``make_unique`` (anndata's ``obs_names_make_unique``), else refused (:func:`unique_cells`) when
    ``refuse``, else kept. Returns how many names were changed (``adata.obs_names`` is set in place)."""
    if adata.obs_names.is_unique:
        return 0
    if not make_unique:
        if refuse:
            unique_cells(adata.obs_names)
        return 0
    n = int(adata.obs_names.duplicated().sum())
    adata.obs_names = _suffix_repeats(adata.obs_names)
    return n


def _suffix_repeats(names: pd.Index) -> pd.Index:
    from anndata.utils import make_index_unique

    return make_index_unique(pd.Index(names).astype(str))


def make_unique(names: pd.Index) -> pd.Index:
    """``names`` with repeats suffixed ``-1``, ``-2``, ... (anndata's ``obs_names_make_unique``)."""
    return _suffix_repeats(names)


def distinct_keys(
    basis: str, key_added: str, *, arg: str = "key_added", reductions: tuple[str, str] | None = None
) -> None:
    """Refuse a result key that is the embedding's own key: Harmony's output would silently replace
    the uncorrected PCA. For a Seurat object, ``reductions`` gives the two keys' reduction names."""
    seurat = reductions is not None
    same = reductions[0] == reductions[1] if reductions is not None else key_added == basis
    if not same:
        return
    v = voice()
    if v.kind == "cli":
        msg = (
            f"--key-added {key_added} is --basis {basis}: Harmony's result would overwrite the uncorrected "
            "embedding it reads; choose another --key-added (default X_pca_harmony)"
        )
    elif seurat:
        msg = (
            f"{arg} {key_added!r} names reduction {reductions[1]!r}, the one Harmony reads (basis "
            f"{basis!r}): the uncorrected embedding would be replaced; choose another {arg} (default 'X_pca_harmony')"
        )
    else:
        msg = (
            f"{arg} {key_added!r} is the basis {basis!r}: Harmony's result would overwrite the uncorrected "
            f"adata.obsm[{basis!r}]; choose another {arg} (default 'X_pca_harmony')"
        )
    raise ValueError(msg)


def converged(engine: str, why: str | None) -> None:
    """Warn, in the caller's terms, when a Harmony run did not converge (``why``, from the engine's result)."""
    if why is None:
        return
    v = voice()
    flags = ("--max-iter", "--theta") if v.kind == "cli" else ("max_iter", "theta")
    warn(
        f"Harmony ({engine}) did not converge: {why}. The corrected embedding may not be settled: raise "
        f"{flags[0]}, or check {flags[1]} (a very large diversity penalty keeps the objective from settling)."
    )


def key_list(batch_key: str | Sequence[str]) -> list[str]:
    """``batch_key`` as a list of distinct column names (one name or a sequence of them)."""
    keys = [batch_key] if isinstance(batch_key, str) else list(batch_key) if isinstance(batch_key, Sequence) else None
    if not keys or not all(isinstance(k, str) for k in keys):
        msg = f"batch_key must be an obs column name or a list of them, got {batch_key!r}"
        raise TypeError(msg)
    if len(set(keys)) != len(keys):
        msg = f"batch_key lists a column twice: {keys}"
        raise ValueError(msg)
    return keys


def batch_keys(cells: AnnData | pd.DataFrame, batch_key: str | Sequence[str]) -> list[str]:
    """``batch_key`` as a list of existing ``obs`` columns (of an AnnData, or of a frame with one row per cell)."""
    if not isinstance(cells, AnnData | pd.DataFrame):
        msg = f"expected an AnnData, got {type(cells).__name__}"
        raise TypeError(msg)
    obs = cells.obs if isinstance(cells, AnnData) else cells
    keys = key_list(batch_key)
    missing = [k for k in keys if k not in obs.columns]
    if missing:
        v = voice()
        available = list(map(str, obs.columns))
        if v.kind == "python":
            msg = f"batch key {missing[0]!r} not in adata.obs; available columns: {available}"
        else:
            where = "not in the Seurat object's meta.data" if v.kind == "seurat" else f"is not a column of {v.source}"
            msg = f"{v.batch_flag(missing[0])}: {missing[0]!r} {where}; available columns: {available}"
        raise KeyError(msg)
    return keys


def batch_frame(cells: AnnData | pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The batch columns (of an AnnData's obs, or of a frame with one row per cell), checked: labels
    everywhere, at least two batches, categorical-looking."""
    obs = cells.obs if isinstance(cells, AnnData) else cells
    frame = obs[keys].copy()
    v = voice()
    for key in keys:
        col = frame[key]
        n_missing = int(col.isna().sum())
        if n_missing:
            first = _names(list(col.index[col.isna()]), 3)
            msg = (
                f"{v.obs(key)} has {n_missing} cells with missing labels (first: {first}); label them or drop them "
                f"first: {v.drop_missing(key)}"
            )
            raise ValueError(msg)
        levels = col.nunique()
        if levels < 2:
            only = col.iloc[0] if len(col) else None
            msg = f"{v.obs(key)} has one batch only ({only!r}): there is nothing to integrate"
            raise ValueError(msg)
        numeric = pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype)
        if numeric and levels > CONTINUOUS_LEVELS and levels > 0.1 * len(col):
            warn(
                f"{v.obs(key)} is numeric with {levels} distinct values: it looks continuous, but Harmony "
                f"treats every value as its own batch. Convert it to categories if that is what you mean "
                f"({v.as_category(key)})."
            )
            continue  # one warning is enough: its tiny "batches" are the symptom
        sizes = col.value_counts()
        small = sizes[(sizes > 0) & (sizes < MIN_CELLS_PER_BATCH)].sort_values()
        if len(small):
            shown = ", ".join(
                f"{str(name)!r} ({int(n)} cell{'s' if n != 1 else ''})" for name, n in small.iloc[:5].items()
            )
            more = f" and {len(small) - 5} more" if len(small) > 5 else ""
            warn(
                f"{v.obs(key)} has {len(small)} batch(es) with fewer than {MIN_CELLS_PER_BATCH} cells: "
                f"{shown}{more}. "
                "Harmony corrects each batch from its own cells, so their correction rests on too few cells; merge "
                f"them with a similar batch or drop them ({v.drop_batch(key, str(small.index[0]))})."
            )
    return frame


def embedding(adata: AnnData, basis: str) -> np.ndarray:
    """``adata.obsm[basis]`` as a 2-D finite array (not copied)."""
    return embedding_values(obsm_array(adata, basis), adata.obs_names, basis)


def obsm_array(adata: AnnData, basis: str) -> np.ndarray:
    """``adata.obsm[basis]`` as an array (not copied, not yet checked: :func:`embedding_values`), or an
    error listing what obsm holds."""
    v = voice()
    if basis not in adata.obsm:
        hint = " Run sc.pp.pca(adata) first." if basis == "X_pca" else ""
        msg = f"{basis!r} not in adata.obsm; available: {list(adata.obsm.keys())}.{hint}"
        if v.kind == "cli":
            hint = " Compute a PCA first (scanpy: sc.pp.pca; Seurat: RunPCA)." if basis == "X_pca" else ""
            msg = f"--basis {basis}: {v.source} has no obsm[{basis!r}]; available: {list(adata.obsm.keys())}.{hint}"
        raise KeyError(msg)
    Z = adata.obsm[basis]
    return np.asarray(Z.to_numpy() if isinstance(Z, pd.DataFrame) else Z)


def embedding_values(Z: Any, cell_names: Sequence[object], basis: str) -> Any:
    """An embedding (cells x components, ``basis`` naming it) checked: 2-D, at least 2 components, numeric,
    finite; the cells with NaN or inf are named. ``Z`` is a NumPy array or an embedding held elsewhere
    that says which of its rows are not finite (``nonfinite_rows()``: an R matrix checks itself in R)."""
    where = voice().obsm(basis)
    shape = tuple(Z.shape)
    if len(shape) != 2 or shape[1] < 2:
        msg = f"{where} must be cells x components with at least 2 components, got shape {shape}"
        raise ValueError(msg)
    if Z.dtype.kind not in "fiu":
        msg = f"{where} must be numeric, got dtype {Z.dtype}"
        raise TypeError(msg)
    elsewhere = getattr(Z, "nonfinite_rows", None)
    if elsewhere is not None:
        bad = np.asarray(elsewhere(), dtype=np.int64)
    elif np.isfinite(Z).all():  # the common case, one pass; the per-cell check only to name culprits
        return Z
    else:
        bad = np.flatnonzero(~np.isfinite(Z).all(axis=1))
    if len(bad):
        first = _names([cell_names[i] for i in bad], 3)
        msg = f"{where} has NaN or inf in {len(bad)} cells (first: {first}); {voice().drop_cells()}"
        raise ValueError(msg)
    return Z


def n_cells(cells: AnnData | int) -> int:
    """The number of cells (of an AnnData, or a count), at least MIN_CELLS."""
    n = cells.n_obs if isinstance(cells, AnnData) else int(cells)
    if n < MIN_CELLS:
        msg = f"Harmony needs at least {MIN_CELLS} cells, got {n}"
        raise ValueError(msg)
    return n


def cells_for_neighbors(n_cells: int, k: int, what: str = "neighbours") -> None:
    """Refuse fewer than k + 1 cells for a k-nearest-neighbour step."""
    if n_cells <= k:
        msg = f"{n_cells} cells are too few for {k} {what}; need at least {k + 1} (or lower the number of neighbours)"
        raise ValueError(msg)


def obs_key(adata: AnnData, key: str, what: str = "label key") -> pd.Series:
    """An existing obs column with at least two levels and no missing values."""
    v = voice()
    if key not in adata.obs.columns:
        msg = f"{what} {key!r} not in adata.obs; available columns: {list(map(str, adata.obs.columns))}"
        if v.kind == "cli":
            msg = (
                f"{what} {key!r} is not a column of {v.source}; available columns: {list(map(str, adata.obs.columns))}"
            )
        raise KeyError(msg)
    col = adata.obs[key]
    if col.isna().any():
        first = _names(list(col.index[col.isna()]), 3)
        msg = f"{v.obs(key)} has {int(col.isna().sum())} missing values (first: {first}); fill or drop them first"
        raise ValueError(msg)
    if col.nunique() < 2:
        msg = f"{v.obs(key)} has one level only; a {what} needs at least two"
        raise ValueError(msg)
    return col
