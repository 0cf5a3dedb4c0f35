"""What every engine runs on, whoever holds the cells: the one checked input of :func:`run_engine`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from harmonybridge._core import checks as _check


@dataclass(frozen=True)
class HarmonyInput:
    """An embedding and its batch columns, checked once for every engine.

    ``embedding`` is cells x components: a NumPy array, or an embedding held in R
    (``_rbridge.REmbedding``, a Seurat object's reduction) that only the R engine reads in place;
    :meth:`array` gives the Python engines NumPy. ``batches`` holds the checked batch columns, one row
    per cell, indexed by the cell names. Built by :func:`from_anndata` (an AnnData), by the Seurat front
    end (``harmony._seurat``) and by the R package (``rpackage``): one route for all of them.
    """

    embedding: Any
    batches: pd.DataFrame
    keys: list[str]

    @property
    def n_cells(self) -> int:
        return int(self.embedding.shape[0])

    def array(self) -> np.ndarray:
        """The embedding as NumPy (one copy if it is held in R; none otherwise)."""
        return np.asarray(self.embedding)

    @classmethod
    def check(cls, embedding: Any, obs: pd.DataFrame, keys: Sequence[str], basis: str) -> HarmonyInput:
        """The checks every Harmony run makes, in the caller's voice: one name per cell, the embedding
        (``basis`` names it in errors) numeric and finite, enough cells, the batch columns labelled."""
        keys = _check.batch_keys(obs, list(keys))
        _check.unique_cells(obs.index)
        if embedding.shape[0] != len(obs):
            msg = f"the embedding has {embedding.shape[0]} cells but the batch columns have {len(obs)} rows"
            raise ValueError(msg)
        Z = _check.embedding_values(embedding, obs.index, basis)
        _check.n_cells(len(obs))
        return cls(Z, _check.batch_frame(obs, keys), keys)


def from_anndata(adata: AnnData, keys: Sequence[str], basis: str) -> HarmonyInput:
    """An AnnData's ``obsm[basis]`` and batch columns, checked (nothing copied, the AnnData untouched)."""
    _check.unique_cells(adata.obs_names)
    return HarmonyInput.check(_check.obsm_array(adata, basis), adata.obs, keys, basis)
