"""What the workers of the chunked Harmony engine run: one task per piece of the cells.

The cells live in a scratch directory as ``.npy`` pieces: input chunk ``c`` is permuted once
(seeded by ``seed`` and ``c``) and cut into ``n_blocks`` pieces; piece ``(c, j)`` belongs to block
``j``. Block ``j`` is thus a random 1/n_blocks of every chunk, and an output chunk is rebuilt from
its own pieces alone. Per piece the directory holds ``orig`` (the input, float32), ``codes``
(global batch indices) and ``corr<g>`` (the corrected cells of generation ``g``, rewritten once per
Harmony iteration; generation 0 is ``orig``). Each task reads its piece, computes with the block
functions and returns small statistics (float64); nothing N-sized leaves a worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import _dask_blocks as kb


def local_order(seed: int, chunk: int, n_rows: int) -> np.ndarray:
    """The seeded permutation of chunk ``chunk``'s rows (the same on every worker)."""
    return np.random.default_rng([seed, chunk]).permutation(n_rows)


def piece_bounds(n_rows: int, n_blocks: int) -> np.ndarray:
    """Start of each block's piece in a permuted chunk, and the end (n_blocks + 1 numbers)."""
    sizes = [len(a) for a in np.array_split(np.arange(n_rows), n_blocks)]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def piece_path(root: str, kind: str, chunk: int, block: int) -> str:
    return os.path.join(root, kind, f"c{chunk}_b{block}.npy")


def corr_path(root: str, gen: int, chunk: int, block: int) -> str:
    return piece_path(root, "orig" if gen == 0 else f"corr{gen}", chunk, block)


def _save(path: str, array: np.ndarray) -> None:
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def _load(path: str) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def write_pieces(
    z: np.ndarray, codes: np.ndarray, root: str, chunk: int, seed: int, n_blocks: int, offsets, n_levels, n_sample: int
):
    """Permute one input chunk, write its pieces; return its batch counts and its k-means sample.

    ``codes`` (rows x covariates) are checked against ``n_levels``; the sample is the first
    ``n_sample`` rows of the permuted chunk (a seeded uniform sample), cosine-normalised.
    """
    z = np.asarray(z)
    codes = np.asarray(codes)
    if codes.ndim == 1:
        codes = codes[:, None]
    if codes.dtype.kind not in "iu":
        msg = f"batch codes must be integers, got dtype {codes.dtype}"
        raise TypeError(msg)
    for i, n in enumerate(n_levels):
        col = codes[:, i]
        if col.size and (col.min() < 0 or col.max() >= n):
            msg = f"batch codes of covariate {i} must lie in 0..{n - 1} (n_levels[{i}]); got {col.min()}..{col.max()}"
            raise ValueError(msg)
    if not np.isfinite(z).all():
        msg = f"the embedding has NaN or infinite values in chunk {chunk}; remove or fix those cells"
        raise ValueError(msg)
    order = local_order(seed, chunk, len(z))
    z = np.ascontiguousarray(z[order], dtype=kb.F32)
    glob = (codes[order] + np.asarray(offsets)[None, :]).astype(np.int32)
    bounds = piece_bounds(len(z), n_blocks)
    for j in range(n_blocks):
        rows = slice(bounds[j], bounds[j + 1])
        _save(piece_path(root, "orig", chunk, j), z[rows])
        _save(piece_path(root, "codes", chunk, j), glob[rows])
    counts = np.bincount(glob.reshape(-1), minlength=int(np.sum(n_levels))).astype(np.float64)
    return counts, kb.cosine_normalize(z[:n_sample])


def _piece(root: str, gen: int, chunk: int, block: int):
    z_cos = kb.cosine_normalize(_load(corr_path(root, gen, chunk, block)))
    return z_cos, _load(piece_path(root, "codes", chunk, block))


def _assign(z_cos, codes, Y, sigma, log_div, n_batches: int):
    """``(R, statistics)``: a piece's assignments, its O, R sums and objective parts."""
    dist = kb.distances(z_cos, Y)
    R, entropy = kb.assignments(dist, codes, sigma, log_div, entropy=True)
    observed, rowsum = kb.cluster_stats(R, codes, n_batches)
    return R, {"O": observed, "rowsum": rowsum, "obj": np.array([kb.kmeans_error(R, dist), entropy])}


def reset_step(root: str, chunk: int, block: int, gen: int, Y, sigma, n_batches: int) -> dict:
    """One piece's assignments without the penalty (the start of an iteration): O, R sums, objective parts."""
    z_cos, codes = _piece(root, gen, chunk, block)
    return _assign(z_cos, codes, Y, sigma, None, n_batches)[1]


def block_step(root: str, chunk: int, block: int, gen: int, Y, sigma, log_div, n_batches: int, with_correction: bool):
    """One piece's new assignments under the block's penalty: its O, R sums, objective parts and,
    when asked, its correction statistics (all cells in the intercept terms)."""
    z_cos, codes = _piece(root, gen, chunk, block)
    R, out = _assign(z_cos, codes, Y, sigma, log_div, n_batches)
    if with_correction:
        out["M"], out["S"] = kb.correction_stats(R, _load(piece_path(root, "orig", chunk, block)), codes, n_batches)
    return out


def correction_step(root: str, chunk: int, block: int, gen: int, Y, sigma, log_div, n_batches: int, kept):
    """One piece's correction statistics, its assignments recomputed from the block's snapshot."""
    z_cos, codes = _piece(root, gen, chunk, block)
    _, R = kb.block_R(z_cos, codes, Y, sigma, log_div)
    M, S = kb.correction_stats(R, _load(piece_path(root, "orig", chunk, block)), codes, n_batches, kept)
    return {"M": M, "S": S}


def apply_step(root: str, chunk: int, block: int, gen: int, new_gen: int, Y, sigma, log_div, W, Y_next, n_batches: int):
    """Correct one piece (assignments recomputed from the block's snapshot), write generation
    new_gen, and return the next iteration's starting statistics (no penalty, centroids Y_next)."""
    z_cos, codes = _piece(root, gen, chunk, block)
    _, R = kb.block_R(z_cos, codes, Y, sigma, log_div)
    z = kb.correct(_load(piece_path(root, "orig", chunk, block)), R, codes, W)
    _save(corr_path(root, new_gen, chunk, block), z)
    return _assign(kb.cosine_normalize(z), codes, Y_next, sigma, None, n_batches)[1]


def output_chunk(root: str, gen: int, chunk: int, n_rows: int, seed: int, n_blocks: int, dtype: str) -> np.ndarray:
    """The corrected cells of one input chunk, in their original order."""
    bounds = piece_bounds(n_rows, n_blocks)
    parts = [_load(corr_path(root, gen, chunk, j)) for j in range(n_blocks) if bounds[j + 1] > bounds[j]]
    permuted = np.concatenate(parts, axis=0)
    out = np.empty_like(permuted, dtype=np.dtype(dtype))
    out[local_order(seed, chunk, n_rows)] = permuted
    return out


def add(*parts: dict) -> dict:
    """Sum of statistics dicts, in the order given (the driver fixes the order)."""
    total = {k: np.array(v, dtype=np.float64, copy=True) for k, v in parts[0].items()}
    for part in parts[1:]:
        for k, v in part.items():
            total[k] += v
    return total


def make_dirs(root: str | Path) -> None:
    for kind in ("orig", "codes", "corr1", "corr2"):
        Path(root, kind).mkdir(parents=True, exist_ok=True)
