"""Harmony past one machine's memory: the dask engine on zarr stores of 1M to 10M cells, harmonypy beside it.

For each size: a seeded synthetic embedding (cells x 50 PCs, 16 batches, 12 cell types; the
generator of ``_synthetic.py``, made chunk by chunk) is written as an AnnData zarr store, one
chunk of cells at a time (the embedding is never whole in this process); then

1. ``harmonybridge run X.zarr --batch batch --backend dask --out OUT.zarr`` runs as a child
   process: its wall time, and the peak RSS of its WHOLE process tree (the command and any Dask
   worker processes it starts), sampled from /proc through psutil every 0.2 s;
2. raw harmonypy on the same cells (read from the store into memory, then
   ``harmonypy.run_harmony``) in another child process, measured the same way, when it fits:
   it needs about 1.8 GB per million cells (measured: 1M cells 1.9 GB, 5M cells 9.0 GB), and a
   size whose estimate exceeds 80% of the memory available now is skipped and said so.

It prints a table and the ratios the targets are about: time per cell against harmonypy, peak
memory at the largest size over the smallest, and time per million cells across sizes.

Usage::

    python bench/bench_scale.py                            # 1M, 2M, 5M, 10M cells (about an hour on 2 cores)
    python bench/bench_scale.py --cells 200000,400000      # a quick check (a few minutes)
    python bench/bench_scale.py --tmp /data/scratch        # stores where there is room (10M cells: ~2 GB each)

Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

N_TYPES = 12
WRITE_CHUNK = 500_000  # cells generated and written at once
HARMONYPY_GB_PER_M = 1.8  # harmonypy 2.1's peak per million cells (50 PCs, 16 batches; issue 21)


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------


def write_store(path: Path, cells: int, pcs: int, batches: int, seed: int, chunk: int) -> None:
    """An AnnData zarr store (obs: batch; obsm: X_pca; no X), written chunk by chunk.

    The same model as ``_synthetic.make_embedding`` (falling PC variances, per-batch cell-type
    mix and shift, cells grouped by batch like concatenated samples); each chunk of cells draws
    from its own seeded generator, so the data depend on the seed and size only.
    """
    import zarr

    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(np.arange(1, pcs + 1))).astype(np.float32)
    centres = rng.normal(0, 4.0, (N_TYPES, pcs)).astype(np.float32) * scale
    shifts = rng.normal(0, 1.5, (batches, pcs)).astype(np.float32) * scale
    mix = rng.dirichlet(np.full(N_TYPES, 0.7), batches)
    sizes = rng.multinomial(cells, np.full(batches, 1.0 / batches))
    starts = np.concatenate([[0], np.cumsum(sizes)])

    def attrs(kind: str, version: str = "0.2.0", **more) -> dict:
        return {"encoding-type": kind, "encoding-version": version, **more}

    root = zarr.open_group(os.fspath(path), mode="w", zarr_format=2)
    root.attrs.update(attrs("anndata", "0.1.0"))
    obs = root.create_group("obs")
    obs.attrs.update(attrs("dataframe", _index="_index", **{"column-order": ["batch"]}))
    index = obs.create_array("_index", shape=(cells,), dtype=str, chunks=(min(cells, 1_000_000),))
    index.attrs.update(attrs("string-array"))
    batch = obs.create_group("batch")
    batch.attrs.update(attrs("categorical", ordered=False))
    codes = batch.create_array("codes", shape=(cells,), dtype=np.int8, chunks=(min(cells, 1_000_000),))
    cats = batch.create_array("categories", shape=(batches,), dtype=str, chunks=(batches,))
    cats.attrs.update(attrs("string-array"))
    cats[:] = np.array([f"sample{b:02d}" for b in range(batches)])
    var = root.create_group("var")
    var.attrs.update(attrs("dataframe", _index="_index", **{"column-order": []}))
    var.create_array("_index", shape=(0,), dtype=str, chunks=(1,)).attrs.update(attrs("string-array"))
    for name in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
        root.create_group(name).attrs.update(attrs("dict", "0.1.0"))
    Z = root["obsm"].create_array("X_pca", shape=(cells, pcs), dtype=np.float32, chunks=(chunk, pcs))
    Z.attrs.update(attrs("array"))
    for start in range(0, cells, WRITE_CHUNK):
        stop = min(cells, start + WRITE_CHUNK)
        part = np.random.default_rng([seed, start])
        b = np.searchsorted(starts, np.arange(start, stop), side="right") - 1
        ctype = np.empty(stop - start, dtype=np.int64)
        for k in np.unique(b):
            idx = np.flatnonzero(b == k)
            ctype[idx] = part.choice(N_TYPES, idx.size, p=mix[k])
        z = part.standard_normal((stop - start, pcs), dtype=np.float32)
        z *= scale
        z += centres[ctype]
        z += shifts[b]
        Z[start:stop] = z
        codes[start:stop] = b.astype(np.int8)
        index[start:stop] = np.char.add("c", np.arange(start, stop).astype(str))
    zarr.consolidate_metadata(os.fspath(path), zarr_format=2)


# --- measuring a child process tree ----------------------------------------------------------


def run_tree(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall time and the peak summed RSS of it and all its descendants (every 0.2 s)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = {"rss": 0, "procs": 0}
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total, n = 0, 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in tree:
                try:
                    total += p.memory_info().rss
                    n += 1
                except psutil.NoSuchProcess:
                    pass
            if total > peak["rss"]:
                peak["rss"], peak["procs"] = total, n
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(err[-4000:])
        msg = f"{' '.join(cmd[:4])} ... failed with exit code {proc.returncode}"
        raise RuntimeError(msg)
    return {"wall_s": wall, "peak_mb": peak["rss"] / 2**20, "procs": peak["procs"], "stdout": out, "stderr": err}


RAW = """
import json, sys, time
import dask.array as da, numpy as np, pandas as pd, harmonypy
path, seed, ncores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
Z = da.from_zarr(path, component="obsm/X_pca").compute()
codes = da.from_zarr(path, component="obs/batch/codes").compute()
meta = pd.DataFrame({"batch": pd.Categorical(codes)})
t1 = time.perf_counter()
ho = harmonypy.run_harmony(Z, meta, "batch", random_state=seed, ncores=ncores)
t2 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "harmony_s": t2 - t1, "iterations": len(ho.objective_harmony) - 1}))
"""


def bench_dask(store: Path, out: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "harmonybridge.cli", "run", str(store), "--batch", "batch", "--backend", "dask"]
    cmd += ["--out", str(out), "--seed", str(args.seed), "--ncores", str(args.ncores)]
    if args.chunk_cells:
        cmd += ["--chunk-cells", str(args.chunk_cells)]
    if args.scheduler:
        cmd += ["--scheduler", args.scheduler]
    progress("dask: " + " ".join(cmd[1:]))
    res = run_tree(cmd)
    res["summary"] = next((ln for ln in res["stdout"].splitlines() if ln.startswith("dask:")), "")
    return res


def bench_raw(store: Path, cells: int, args: argparse.Namespace) -> dict:
    import psutil

    need = HARMONYPY_GB_PER_M * cells / 1e6
    free = psutil.virtual_memory().available / 2**30
    if need > 0.8 * free:
        return {"skipped": f"needs about {need:.1f} GB, {free:.1f} GB available"}
    cmd = [sys.executable, "-c", RAW, str(store), str(args.seed), str(args.ncores)]
    progress(f"harmonypy on the same cells (estimate {need:.1f} GB of {free:.1f} GB available)")
    try:
        res = run_tree(cmd)
    except RuntimeError as err:
        return {"skipped": f"failed: {err}"}
    res.update(json.loads(res["stdout"].strip().splitlines()[-1]))
    return res


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", default="1000000,2000000,5000000,10000000", help="sizes, comma-separated")
    p.add_argument("--pcs", type=int, default=50)
    p.add_argument("--batches", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ncores", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--chunk-cells", type=int, help="the dask engine's chunk (default: its own)")
    p.add_argument("--scheduler", help="passed to --scheduler (default: the command's own choice)")
    p.add_argument("--no-raw", action="store_true", help="skip harmonypy")
    p.add_argument("--tmp", help="folder for the stores (default: the system's temporary folder)")
    args = p.parse_args(argv)
    sizes = [int(float(s)) for s in args.cells.split(",") if s.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="hb-bench-scale-", dir=args.tmp))
    rows = []
    try:
        for cells in sizes:
            store, out = tmp / f"cells_{cells}.zarr", tmp / f"cells_{cells}.harmony.zarr"
            t0 = time.perf_counter()
            progress(f"writing {cells:,} cells x {args.pcs} PCs, {args.batches} batches to {store}")
            write_store(store, cells, args.pcs, args.batches, args.seed, args.chunk_cells or 100_000)
            progress(f"written in {time.perf_counter() - t0:.1f} s")
            dask_res = bench_dask(store, out, args)
            shutil.rmtree(out, ignore_errors=True)
            raw = {"skipped": "--no-raw"} if args.no_raw else bench_raw(store, cells, args)
            shutil.rmtree(store, ignore_errors=True)
            rows.append((cells, dask_res, raw))
            progress(f"{cells:,} cells: dask {dask_res['wall_s']:.1f} s, {dask_res['peak_mb']:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(rows, args)
    return 0


def report(rows: list, args: argparse.Namespace) -> None:
    print(f"== Harmony at scale: {args.pcs} PCs, {args.batches} batches, seed {args.seed}, ncores {args.ncores} ==")
    print("dask: harmonybridge run X.zarr --batch batch --backend dask --out OUT.zarr (whole command, process tree)")
    print("harmonypy: read the store into memory, then harmonypy.run_harmony (whole process, process tree)")
    head = f"{'cells':>11} {'dask s':>8} {'dask MB':>8} {'procs':>5} {'hpy s':>8} {'hpy MB':>8}"
    print(head + f" {'s/M dask':>9} {'s/M hpy':>8}  time/cell dask:hpy")
    for cells, d, r in rows:
        per_m = d["wall_s"] / (cells / 1e6)
        if "skipped" in r:
            print(f"{cells:>11,} {d['wall_s']:>8.1f} {d['peak_mb']:>8.0f} {d['procs']:>5} {'-':>8} {'-':>8} "
                  f"{per_m:>9.1f} {'-':>8}  harmonypy skipped: {r['skipped']}")  # fmt: skip
            continue
        raw_m = r["wall_s"] / (cells / 1e6)
        print(f"{cells:>11,} {d['wall_s']:>8.1f} {d['peak_mb']:>8.0f} {d['procs']:>5} {r['wall_s']:>8.1f} "
              f"{r['peak_mb']:>8.0f} {per_m:>9.1f} {raw_m:>8.1f}  {per_m / raw_m:.2f}"
              f" (harmonypy itself {r['harmony_s']:.1f} s, {r['iterations']} iterations)")  # fmt: skip
    for cells, d, _ in rows:
        print(f"  {cells:,}: {d['summary']}")
    if len(rows) > 1:
        (c0, d0, _), (c1, d1, _) = rows[0], rows[-1]
        print(f"peak memory {c1:,} / {c0:,} cells: {d1['peak_mb'] / d0['peak_mb']:.2f}x (target at most 1.5x, 6 GB)")
        t0, t1 = d0["wall_s"] / c0, d1["wall_s"] / c1
        print(f"time per cell {c1:,} / {c0:,} cells: {t1 / t0:.2f}x (1.0 = linear)")


if __name__ == "__main__":
    sys.exit(main())
