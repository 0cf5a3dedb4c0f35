"""Seeded PCA-like data shared by the benches."""

from __future__ import annotations

import numpy as np


def make_embedding(
    cells: int, pcs: int, batches: int, seed: int, *, n_types: int = 12, mix_alpha: float = 0.7
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A float32 cells x PCs embedding with cell types and batch effects; batch and type codes.

    PC j has spread ~ 1/sqrt(j+1) (falling variance, like a real PCA); ``n_types`` cell types
    sit at random centres; each batch has its own cell-type mix (Dirichlet(``mix_alpha``)) and
    its own shift vector (larger on the leading PCs); cells are grouped by batch, like
    concatenated samples.
    """
    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(np.arange(1, pcs + 1))).astype(np.float32)
    centres = rng.normal(0, 4.0, (n_types, pcs)).astype(np.float32) * scale
    shifts = rng.normal(0, 1.5, (batches, pcs)).astype(np.float32) * scale
    batch = np.sort(rng.integers(0, batches, cells))
    mix = rng.dirichlet(np.full(n_types, mix_alpha), batches)
    ctype = np.empty(cells, dtype=np.int64)
    for b in range(batches):
        idx = np.flatnonzero(batch == b)
        ctype[idx] = rng.choice(n_types, idx.size, p=mix[b])
    Z = rng.standard_normal((cells, pcs), dtype=np.float32)
    Z *= scale
    Z += centres[ctype]
    Z += shifts[batch]
    return Z, batch.astype(np.int16), ctype
