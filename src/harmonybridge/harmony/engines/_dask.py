"""The chunked engine: harmonypy 2.1's Harmony on a Dask array of cells x PCs, chunked by cells.

Each step is a map over pieces of the cells and a reduce of small statistics (K x B, K x d, per
cluster (B+1) x (B+1) and (B+1) x d) in a fixed order, so that the same seed and chunking give
the same output whatever the scheduler or the number of workers. Nothing N-sized reaches the
client; the assignments R (K x N) are never stored:

- the cells are copied once into a scratch directory, each chunk permuted (seeded) and cut into
  ``n_blocks = ceil(1 / block_size)`` pieces; block j = piece j of every chunk (a random
  1/n_blocks of the cells, as harmonypy's blocks are; harmonypy draws new blocks each round, here
  the blocks are fixed and visited in a new random order each round);
- each Harmony iteration starts from the assignments without penalty (centroids Y fixed for the
  whole iteration, as harmonypy 2.1); in each k-means round the blocks, one after another, remove
  their old contribution to O and E, reassign their cells under the penalty of the O and E they
  see (one parallel map over their pieces) and add the new one; a block's snapshot (its
  log-penalty, K x B) is kept, so R is recomputed from it whenever needed and never stored;
- the correction: per-cluster ridge statistics (from the last round's pass with one covariate,
  or one more pass), the ridge solved on the client (its intercepts are the next centroids), then
  one pass that recomputes each piece's R, corrects it from the original cells, writes the next
  generation of the corrected cells and returns the next iteration's starting O and E.

The initial centroids come from k-means (scikit-learn, k-means++) on a seeded sample of at most
``KMEANS_SAMPLE`` cells (harmonypy runs its own k-means++ variant on all cells). Memory per
worker is one input chunk (when the pieces are written) or
one piece, plus small statistics; the scratch directory holds three copies of the cells.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
import weakref
from typing import Any

import numpy as np

from harmonybridge.harmony.params import HarmonyParams

from . import _dask_blocks as kb
from . import _dask_tasks as tasks

logger = logging.getLogger("harmonybridge")

#: automatic chunk size (cells) when the caller gives none
CHUNK_CELLS = 100_000
#: k-means initialisation on at most this many cells (a seeded sample)
KMEANS_SAMPLE = 100_000
WINDOW = 3  # harmonypy's k-means convergence window


def _compute(items: list, client) -> list:
    import dask

    if client is not None:
        return client.gather(client.compute(items))
    return list(dask.compute(*items))


def _tree_sum(parts: list):
    """A fixed-order pairwise sum of delayed statistics (the same pairing on any scheduler)."""
    from dask import delayed

    while len(parts) > 1:
        parts = [delayed(tasks.add, pure=False)(*parts[i : i + 2]) for i in range(0, len(parts), 2)]
    return parts[0]


def describe_scheduler(client=None) -> str:
    """The scheduler that runs the engine, for logs and the trace."""
    import dask

    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except (ImportError, ValueError):
            client = None
    if client is None:
        return f"dask local scheduler ({dask.config.get('scheduler', None) or 'threads'})"
    workers = client.scheduler_info().get("workers", {})
    return f"dask distributed {client.scheduler.address} ({len(workers)} workers, dashboard {client.dashboard_link})"


def cleanup_scratch(trace: dict) -> None:
    """Remove the scratch directory a :func:`harmonize` run made (after its output is written)."""
    path = trace.get("scratch")
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def _per_level(values, n_levels: list[int]) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.float64), n_levels)


def harmonize(
    Z,
    codes,
    n_levels: list[int],
    params: HarmonyParams,
    *,
    scratch: str | os.PathLike | None = None,
    client=None,
    verbose: bool = False,
    progress=None,
):
    """Harmony on a Dask array ``Z`` (cells x PCs, chunked by cells); ``codes`` (cells x covariates)
    holds each cell's batch index 0..n_levels[i]-1 per covariate; ``params`` already resolved.

    Returns ``(corrected, trace)``: a lazy Dask array in the original order and chunks (it reads
    the scratch directory, so write it before calling :func:`cleanup_scratch`), and the trace.
    ``scratch``: a directory under which a fresh working directory is made (it must be visible to
    every worker; None: the system's temporary directory, removed when ``corrected`` is garbage
    collected). ``progress``: called with a dict after every Harmony iteration.
    """
    import dask.array as da
    from dask import delayed

    t0 = time.perf_counter()
    if not isinstance(Z, da.Array):
        Z = da.from_array(np.asarray(Z), chunks=(CHUNK_CELLS, -1))
    if Z.ndim != 2:
        msg = f"the embedding must be cells x PCs (2-D), got shape {Z.shape}"
        raise ValueError(msg)
    Z = Z.rechunk({1: -1})
    n, d = (int(s) for s in Z.shape)
    row_chunks = tuple(int(c) for c in Z.chunks[0])
    if isinstance(codes, da.Array):
        codes = codes if codes.ndim == 2 else codes[:, None]
        codes = codes.rechunk((row_chunks, -1))
    else:
        codes = np.asarray(codes)
        codes = codes if codes.ndim == 2 else codes[:, None]
        codes = da.from_array(codes, chunks=(row_chunks, -1))
    n_levels = [int(x) for x in n_levels]
    if codes.shape != (n, len(n_levels)):
        msg = f"codes must be cells x covariates {(n, len(n_levels))} (a column per n_levels entry), got {codes.shape}"
        raise ValueError(msg)
    p = params
    K, B, C = int(p.nclust), int(sum(n_levels)), len(n_levels)
    if p.theta is None or p.nclust is None:
        msg = "params must be resolved first: params.resolve(n_cells, n_covariates)"
        raise ValueError(msg)
    n_blocks = max(1, math.ceil(1.0 / p.block_size - 1e-9))
    seed = int(p.random_state)
    owned = scratch is None
    root = tempfile.mkdtemp(prefix="harmonybridge-dask-", dir=None if owned else os.fspath(scratch))
    done = False  # on any error the scratch directory goes
    blas = _one_blas_thread() if client is None else contextlib.nullcontext()  # tasks run in parallel already
    try:
        blas.__enter__()
        tasks.make_dirs(root)
        out_dtype = np.dtype(Z.dtype) if np.dtype(Z.dtype).kind == "f" else np.dtype(np.float32)
        scheduler = describe_scheduler(client)
        if verbose:
            logger.info(
                "harmony (dask): %d cells x %d PCs in %d chunks, %d clusters, %d blocks; %s; scratch %s",
                n, d, len(row_chunks), K, n_blocks, scheduler, root,
            )  # fmt: skip

        # 1. pieces: each chunk permuted and cut into blocks; batch counts; k-means sample
        offsets = np.concatenate([[0], np.cumsum(n_levels)[:-1]]).astype(np.int64)
        frac = min(1.0, KMEANS_SAMPLE / n)
        zs, cs = Z.to_delayed().ravel(), codes.to_delayed().ravel()
        written = _compute(
            [
                delayed(tasks.write_pieces, pure=False)(
                    zs[c], cs[c], root, c, seed, n_blocks, offsets, n_levels, math.ceil(row_chunks[c] * frac)
                )
                for c in range(len(row_chunks))
            ],
            client,
        )
        n_b = np.sum([w[0] for w in written], axis=0)
        sample = np.concatenate([w[1] for w in written], axis=0)
        del written
        pr_b = n_b / n
        theta = _per_level(p.theta, n_levels)
        if p.tau > 0:
            theta = theta * (1 - np.exp(-((n_b / (K * p.tau)) ** 2)))
        lamb = None if p.lamb is None else np.concatenate([[0.0], _per_level(p.lamb, n_levels)])
        sigma = np.full(K, float(p.sigma))
        pieces = [
            [(c, j) for c in range(len(row_chunks)) if np.diff(tasks.piece_bounds(row_chunks[c], n_blocks))[j] > 0]
            for j in range(n_blocks)
        ]
        live = [j for j in range(n_blocks) if pieces[j]]  # blocks with cells (all, unless chunks are tiny)

        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=K, init="k-means++", n_init=1, max_iter=10, random_state=seed).fit(sample)
        Y = kb.normalize_columns(km.cluster_centers_.T)
        del sample, km

        def blocks_pass(fn, block_ids, args):
            """One map over the pieces of the given blocks, summed per block in a fixed order."""
            shared: dict[int, Any] = {}  # each small array enters the graph once, however many tasks use it

            def wrap(a):
                if isinstance(a, np.ndarray) and a.size > 64:
                    if id(a) not in shared:
                        shared[id(a)] = delayed(a)
                    return shared[id(a)]
                return a

            sums = [
                _tree_sum([delayed(fn, pure=False)(root, c, j, *map(wrap, args(j))) for c, j in pieces[j]])
                for j in block_ids
            ]
            return dict(zip(block_ids, _compute(sums, client), strict=True))

        # 2. initial assignments (no penalty), O, E and the first objective
        gen = 0
        state = _Blocks(blocks_pass(tasks.reset_step, live, lambda j: (gen, Y, sigma, B)), pr_b)
        objective_kmeans = [kb.objective(*state.obj, kb.cross_entropy(state.O, state.E, theta, sigma), n)]
        objective_harmony = [objective_kmeans[-1]]
        kmeans_rounds: list[int] = []
        log_div: dict[int, np.ndarray] = {}
        rng = np.random.default_rng(seed)
        converged = False
        lambdas = np.zeros((K, B + 1))

        for it in range(p.max_iter):
            # 3. clustering (centroids fixed): k-means rounds of online block updates
            stats = None
            rounds = 0
            for i in range(p.max_iter_kmeans):
                with_correction = C == 1 and i == p.max_iter_kmeans - 1
                obj = np.zeros(2)
                for j in rng.permutation(live).tolist():
                    state.remove(j)
                    log_div[j] = kb.log_diversity(state.O, state.E, theta)
                    args = (gen, Y, sigma, log_div[j], B, with_correction)
                    res = blocks_pass(tasks.block_step, [j], lambda _j, a=args: a)[j]
                    state.put(j, res)
                    obj += res["obj"]
                    if with_correction:
                        stats = (res["M"], res["S"]) if stats is None else (stats[0] + res["M"], stats[1] + res["S"])
                objective_kmeans.append(kb.objective(*obj, kb.cross_entropy(state.O, state.E, theta, sigma), n))
                rounds = i + 1
                if i > WINDOW and _kmeans_converged(objective_kmeans, p.epsilon_cluster):
                    break
            kmeans_rounds.append(rounds)
            objective_harmony.append(objective_kmeans[-1])
            # 4. correction: ridge per cluster from the final R; its intercepts are the next centroids
            kept, active = kb.keep_sets(state.O, n_b, n_levels, p.batch_prop_cutoff)
            if C == 1 and rounds == p.max_iter_kmeans:
                stats = kb.restrict_intercept(*stats, kept)
            else:  # several covariates, or the rounds stopped early: one more pass
                args = lambda j: (gen, Y, sigma, log_div[j], B, kept)  # noqa: B023, E731 (used at once)
                got = blocks_pass(tasks.correction_step, live, args)
                stats = tuple(np.sum([got[j][key] for j in live], axis=0) for key in ("M", "S"))
            W, intercepts, lambdas = kb.ridge_betas(*stats, state.E, kept, active, lamb, p.alpha)
            Y_next = np.array(Y, dtype=np.float64)
            Y_next[:, active] = intercepts[active].T
            Y_next = kb.normalize_columns(Y_next)
            new_gen = 2 if gen == 1 else 1
            args = lambda j: (gen, new_gen, Y, sigma, log_div[j], W, Y_next, B)  # noqa: B023, E731 (used at once)
            state = _Blocks(blocks_pass(tasks.apply_step, live, args), pr_b)
            gen, Y = new_gen, Y_next
            elapsed = time.perf_counter() - t0
            info = {"iteration": it + 1, "max_iter": p.max_iter, "objective": objective_harmony[-1], "elapsed": elapsed,
                    "cells_per_second": n * (it + 1) / elapsed}  # fmt: skip
            if verbose:
                logger.info(
                    "harmony (dask): iteration %d/%d, objective %.6g, %.1f s, %.0f cells/s",
                    it + 1, p.max_iter, info["objective"], elapsed, info["cells_per_second"],
                )  # fmt: skip
            if progress is not None:
                progress(info)
            if _harmony_converged(objective_harmony[-2], objective_harmony[-1], p.epsilon_harmony):
                converged = True
                break

        done = True
    finally:
        blas.__exit__(None, None, None)
        if not done:
            shutil.rmtree(root, ignore_errors=True)

    corrected = da.concatenate(
        [
            da.from_delayed(
                delayed(tasks.output_chunk, pure=True)(root, gen, c, row_chunks[c], seed, n_blocks, out_dtype.str),
                shape=(row_chunks[c], d),
                dtype=out_dtype,
            )
            for c in range(len(row_chunks))
        ],
        axis=0,
    )
    if owned:
        weakref.finalize(corrected, shutil.rmtree, root, True)
    trace: dict[str, Any] = {
        "objective": [float(v) for v in objective_harmony],
        "objective_kmeans": [float(v) for v in objective_kmeans],
        "kmeans_rounds": kmeans_rounds,
        "iterations": len(kmeans_rounds),
        "converged": converged,
        "n_cells": n,
        "n_chunks": len(row_chunks),
        "chunk_cells": max(row_chunks),
        "n_blocks": n_blocks,
        "kmeans_sample": int(min(n, sum(math.ceil(r * frac) for r in row_chunks))),
        "scheduler": scheduler,
        "lambda": lambdas,
        "seconds": time.perf_counter() - t0,
        "scratch": root,
        "scratch_owned": owned,
    }
    return corrected, trace


def _one_blas_thread():
    """One BLAS thread per task while the engine runs in this process (distributed workers already
    run with one): the tasks are parallel, and OpenBLAS threads inside them only contend."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class _Blocks:
    """Each block's contribution to O (K x B) and to R's cluster sums, and their totals O and E."""

    def __init__(self, results: dict[int, dict], pr_b: np.ndarray):
        self.pr_b = pr_b
        self.O_blk = {j: r["O"] for j, r in results.items()}
        self.rs_blk = {j: r["rowsum"] for j, r in results.items()}
        order = sorted(results)
        self.O = np.sum([self.O_blk[j] for j in order], axis=0)
        self.E = np.outer(np.sum([self.rs_blk[j] for j in order], axis=0), pr_b)
        self.obj = np.sum([results[j]["obj"] for j in order], axis=0)

    def remove(self, j: int) -> None:
        self.O -= self.O_blk[j]
        self.E -= np.outer(self.rs_blk[j], self.pr_b)

    def put(self, j: int, result: dict) -> None:
        self.O_blk[j], self.rs_blk[j] = result["O"], result["rowsum"]
        self.O += self.O_blk[j]
        self.E += np.outer(self.rs_blk[j], self.pr_b)


def _harmony_converged(old: float, new: float, epsilon: float) -> bool:
    """harmonypy 2.1's rule: the objective fell, by less than epsilon relative to the old value."""
    if not (np.isfinite(old) and np.isfinite(new)):
        return False
    if old == 0:
        return new == 0
    delta = (old - new) / abs(old)
    return 0 <= delta < epsilon


def _kmeans_converged(objective: list[float], epsilon: float) -> bool:
    """harmonypy's k-means rule: the last WINDOW objectives against the WINDOW before them."""
    if len(objective) <= WINDOW + 1:
        return False
    old = sum(objective[-WINDOW - 1 : -1])
    new = sum(objective[-WINDOW:])
    return abs(old - new) / abs(old) < epsilon


def run_dask(
    Z: np.ndarray, meta, keys: list[str], params: HarmonyParams, *, verbose: bool, chunk_cells: int | None = None,
    client=None,
):  # fmt: skip
    """The in-memory path: :func:`harmonize` on ``Z`` wrapped as a Dask array, computed into an EngineResult."""
    import dask
    import dask.array as da
    import pandas as pd

    from ._result import EngineResult

    start = time.perf_counter()
    codes, n_levels = [], []
    for key in keys:
        cat = pd.Categorical(meta[key])
        codes.append(np.asarray(cat.codes, dtype=np.int32))
        n_levels.append(len(cat.categories))
    chunk = int(chunk_cells or getattr(params, "chunk_cells", None) or CHUNK_CELLS)
    Zd = da.from_array(np.asarray(Z), chunks=(chunk, -1))
    corrected, trace = harmonize(Zd, np.stack(codes, axis=1), n_levels, params, client=client, verbose=verbose)
    try:
        embedding = client.compute(corrected).result() if client is not None else corrected.compute()
    finally:
        cleanup_scratch(trace)
    seconds = time.perf_counter() - start
    extra = {k: v for k, v in trace.items() if k not in ("objective", "objective_kmeans", "kmeans_rounds", "scratch")}
    keep = ("n_chunks", "chunk_cells", "n_blocks", "kmeans_sample", "scheduler")
    extra["record"] = {"dask": {k: trace[k] for k in keep}}
    result = EngineResult(
        embedding=np.asarray(embedding),
        engine="dask",
        versions={"dask": dask.__version__},
        objective=np.asarray(trace["objective"], dtype=np.float64),
        kmeans_rounds=np.asarray(trace["kmeans_rounds"], dtype=np.int64),
        objective_kmeans=np.asarray(trace["objective_kmeans"], dtype=np.float64),
        seconds=seconds,
        params=params,
        extra=extra,
    )
    logger.info("harmony (dask): %d iterations in %.1f s, converged=%s", result.n_iter, seconds, result.converged)
    return result
