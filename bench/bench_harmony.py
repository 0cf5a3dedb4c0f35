"""harmonybridge's overhead over raw harmonypy: time, peak memory, identical output.

Two benches, both on a seeded synthetic PCA embedding (cell-type clusters in PC space,
PC variances falling like a real PCA's, per-batch composition and a per-batch shift,
float32 like scanpy's ``X_pca``):

1. ``harmonybridge.run_harmony(adata, "batch", backend="python")`` against
   ``harmonypy.run_harmony(Z, meta, "batch")``, alternated A, B, A, B, ... each run in a
   fresh subprocess (so peak memory is per run), same ``random_state`` and ``ncores``.
   Prints every run, the medians, the ratio harmonybridge / raw, the overhead in percent,
   the peak memory of each side, whether the outputs are identical, and where
   harmonybridge's own time goes (checks, engine, store).
2. ``--scale``: one ``harmonybridge run IN.h5ad --batch batch --out OUT.h5ad`` on a
   1,000,000-cell ``.h5ad`` under ``/usr/bin/time -v`` (wall time, peak RSS), then raw
   harmonypy on the same embedding for comparison (``--no-raw`` skips it).

Usage::

    python bench/bench_harmony.py                 # 200,000 cells x 50 PCs, 8 batches, 3 runs each
    python bench/bench_harmony.py --quick         # 20,000 cells: a smoke run
    python bench/bench_harmony.py --scale         # the 1M-cell CLI run (--cells defaults to 1,000,000)

Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _synthetic

TARGET_OVERHEAD_PCT = 5.0
N_TYPES = 12  # cell-type clusters


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- data ----------------------------------------------------------------------------


def make_embedding(cells: int, pcs: int, batches: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The shared generator (bench/_synthetic.py): 12 cell types, per-batch mix and shift; embedding and batch codes."""
    Z, batch, _ = _synthetic.make_embedding(cells, pcs, batches, seed, n_types=N_TYPES)
    return Z, batch


def batch_labels(codes: np.ndarray):
    """Batch codes as a pandas Categorical of strings, as ``adata.obs['batch']`` usually is."""
    import pandas as pd

    n = int(codes.max()) + 1
    return pd.Categorical.from_codes(codes, categories=[f"batch{b}" for b in range(n)])


def save_data(path: Path, Z: np.ndarray, codes: np.ndarray) -> None:
    np.save(path / "Z.npy", Z)
    np.save(path / "batch.npy", codes)


# --- memory --------------------------------------------------------------------------


def rss_now_mb() -> float:
    """Current resident set size (VmRSS), MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_peak_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KB on Linux), MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- workers (one run each, in a fresh process) --------------------------------------


def worker(args: argparse.Namespace) -> None:
    """Load the data, run one side once, print JSON. The output is saved for the equality check."""
    import pandas as pd

    data = Path(args.data)
    Z = np.load(data / "Z.npy")
    labels = batch_labels(np.load(data / "batch.npy"))
    if args.worker == "hb":
        import anndata as ad

        import harmonybridge

        obs = pd.DataFrame({"batch": labels}, index=pd.RangeIndex(Z.shape[0]).astype(str))
        adata = ad.AnnData(obs=obs, obsm={"X_pca": Z})
        before, peak_before, cpu0 = rss_now_mb(), rss_peak_mb(), cpu_s()
        t0 = time.perf_counter()
        harmonybridge.run_harmony(adata, "batch", backend="python", ncores=args.ncores, random_state=args.seed)
        seconds = time.perf_counter() - t0
        out = adata.obsm["X_pca_harmony"]
        rec = adata.uns["harmony"]
        extra = {"engine_seconds": float(rec["seconds"]), "n_iter": int(rec["n_iter"])}
    else:
        import harmonypy

        meta = pd.DataFrame({"batch": labels})
        before, peak_before, cpu0 = rss_now_mb(), rss_peak_mb(), cpu_s()
        t0 = time.perf_counter()
        ho = harmonypy.run_harmony(Z, meta, "batch", ncores=args.ncores, random_state=args.seed, verbose=False)
        engine = time.perf_counter() - t0
        out = ho.Z_corr  # a copy out of the C++ object; harmonybridge fetches it too
        seconds = time.perf_counter() - t0
        extra = {"engine_seconds": engine, "n_iter": len(ho.kmeans_rounds)}
    cpu = cpu_s() - cpu0
    peak = rss_peak_mb()
    if args.save:
        np.save(args.save, out)
    result = {
        "side": args.worker,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before_mb": before,
        "peak_before_mb": peak_before,
        "peak_mb": peak,
        "dtype": str(out.dtype),
        "shape": list(out.shape),
        **extra,
    }
    print(json.dumps(result))


def run_worker(side: str, data: Path, args: argparse.Namespace, save: Path | None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--data",
        str(data),
        "--seed",
        str(args.seed),
        "--ncores",
        str(args.ncores),
    ]
    if save is not None:
        cmd += ["--save", str(save)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        msg = f"worker {side} failed with exit code {proc.returncode}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- profile of harmonybridge's own steps --------------------------------------------


def profile_steps(data: Path, args: argparse.Namespace) -> dict[str, float]:
    """Seconds of each of harmonybridge's steps around the engine (median of 5, in-process)."""
    import anndata as ad
    import pandas as pd

    from harmonybridge._core import checks as _check
    from harmonybridge.harmony._anndata import store_result
    from harmonybridge.harmony.engines import EngineResult
    from harmonybridge.harmony.params import HarmonyParams

    Z = np.load(data / "Z.npy")
    labels = batch_labels(np.load(data / "batch.npy"))
    obs = pd.DataFrame({"batch": labels}, index=pd.RangeIndex(Z.shape[0]).astype(str))
    adata = ad.AnnData(obs=obs, obsm={"X_pca": Z})
    params = HarmonyParams(ncores=args.ncores, random_state=args.seed)
    fake = EngineResult(
        embedding=np.zeros(Z.shape),
        engine="harmonypy",
        versions={"harmonypy": "x"},
        objective=np.zeros(3),
        kmeans_rounds=np.zeros(3, dtype=np.int64),
        objective_kmeans=np.zeros(9),
        seconds=1.0,
        params=params.resolve(Z.shape[0], 1),
    )
    steps = {
        "batch_keys": lambda: _check.batch_keys(adata, "batch"),
        "embedding (isfinite)": lambda: _check.embedding(adata, "X_pca"),
        "batch_frame": lambda: _check.batch_frame(adata, ["batch"]),
        "params.resolve": lambda: params.resolve(Z.shape[0], 1),
        "store_result": lambda: store_result(
            adata, fake, backend="python", keys=["batch"], basis="X_pca", key_added="X_pca_harmony"
        ),
    }
    import harmonypy.harmony as hph

    names = obs.index.to_numpy()
    # harmonypy's np.asarray(labels.cat.codes) looks up __array_*__ through pandas' __getattr__, which asks
    # `name in series.index`: with string obs_names that builds the index's hash table (once per Index object).
    steps["hp _factorize, obs_names index"] = lambda: hph._factorize(pd.Series(labels, index=pd.Index(names.copy())))
    steps["hp _factorize, RangeIndex"] = lambda: hph._factorize(pd.Series(labels, index=pd.RangeIndex(len(names))))
    out = {}
    for name, fn in steps.items():
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


# --- bench 1: harmonybridge vs raw harmonypy -----------------------------------------


def bench_overhead(args: argparse.Namespace, tmp: Path) -> None:
    progress(f"generating {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches (seed {args.seed})")
    Z, codes = make_embedding(args.cells, args.pcs, args.batches, args.seed)
    save_data(tmp, Z, codes)
    data_mb = Z.nbytes / 2**20
    del Z

    runs: dict[str, list[dict]] = {"hb": [], "raw": []}
    outputs: dict[str, list[Path]] = {"hb": [], "raw": []}
    total = 2 * args.repeats
    for i in range(args.repeats):
        for side in ("hb", "raw"):  # A, B, A, B, ...
            save = tmp / f"out_{side}_{i}.npy"
            progress(f"run {len(runs['hb']) + len(runs['raw']) + 1}/{total}: {side}")
            r = run_worker(side, tmp, args, save)
            progress(f"  {side}: {r['seconds']:.2f} s, peak {r['peak_mb']:.0f} MB")
            runs[side].append(r)
            outputs[side].append(save)

    ref = np.load(outputs["raw"][0])
    identical = all(np.array_equal(ref, np.load(p)) for side in ("hb", "raw") for p in outputs[side])
    prof = profile_steps(tmp, args)

    hb_t = [r["seconds"] for r in runs["hb"]]
    raw_t = [r["seconds"] for r in runs["raw"]]
    med_hb, med_raw = statistics.median(hb_t), statistics.median(raw_t)
    ratio = med_hb / med_raw
    overhead = (ratio - 1) * 100
    # outside harmonypy.run_harmony: harmonybridge's checks, store, version look-ups, and the Z_corr fetch both pay
    outside = {side: [r["seconds"] - r["engine_seconds"] for r in runs[side]] for side in runs}
    own = [h - r for h, r in zip(outside["hb"], outside["raw"], strict=True)]

    def mem(side: str) -> tuple[float, float, float]:
        peak = max(r["peak_mb"] for r in runs[side])
        before = statistics.median(r["rss_before_mb"] for r in runs[side])
        return peak, before, peak - before

    print(
        f"== harmonybridge vs raw harmonypy: {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches, "
        f"float32 ({data_mb:.0f} MB), seed {args.seed}, ncores {args.ncores} for both =="
    )
    print("A = harmonybridge.run_harmony(adata, 'batch', backend='python', ncores=N, random_state=S)")
    print("B = harmonypy.run_harmony(Z, meta, 'batch', ncores=N, random_state=S, verbose=False); Z_corr")
    print(f"{'run':<5}{'side':<6}{'seconds':>10}{'cpu s':>9}{'iters':>7}{'rss before MB':>15}{'peak MB':>10}")
    for i in range(args.repeats):
        for side in ("hb", "raw"):
            r = runs[side][i]
            print(
                f"{i + 1:<5}{side:<6}{r['seconds']:>10.3f}{r['cpu_seconds']:>9.2f}{r['n_iter']:>7}"
                f"{r['rss_before_mb']:>15.0f}{r['peak_mb']:>10.0f}"
            )
    print(f"median harmonybridge: {med_hb:.3f} s   (runs: {', '.join(f'{t:.3f}' for t in hb_t)})")
    print(f"median raw harmonypy: {med_raw:.3f} s   (runs: {', '.join(f'{t:.3f}' for t in raw_t)})")
    print(
        f"ratio harmonybridge / raw: {ratio:.4f}   overhead: {overhead:+.2f}%   "
        f"(target <= {TARGET_OVERHEAD_PCT:.0f}%: "
        f"{'met' if overhead <= TARGET_OVERHEAD_PCT else 'NOT met'})"
    )
    cpu_hb = statistics.median(r["cpu_seconds"] for r in runs["hb"])
    cpu_raw = statistics.median(r["cpu_seconds"] for r in runs["raw"])
    print(
        f"CPU time (user+sys, all threads; less sensitive to other load than wall time): median harmonybridge "
        f"{cpu_hb:.2f} s, raw {cpu_raw:.2f} s, ratio {cpu_hb / cpu_raw:.4f} "
        f"({(cpu_hb / cpu_raw - 1) * 100:+.2f}%)"
    )
    med_own = statistics.median(own)
    print(
        f"time outside harmonypy.run_harmony (same process): "
        f"harmonybridge median {statistics.median(outside['hb']) * 1000:.1f} ms, "
        f"raw median {statistics.median(outside['raw']) * 1000:.1f} ms (the Z_corr fetch); "
        f"harmonybridge's own share {med_own * 1000:.1f} ms = {med_own / med_hb * 100:.2f}% of its run"
    )
    for side, name in (("hb", "harmonybridge"), ("raw", "raw harmonypy")):
        peak, before, delta = mem(side)
        print(f"peak RSS {name}: {peak:.0f} MB (RSS before the run {before:.0f} MB, so the run adds {delta:.0f} MB)")
    (hp, _, hd), (rp, _, rd) = mem("hb"), mem("raw")
    print(f"peak ratio harmonybridge / raw: {hp / rp:.3f} (whole process), {hd / rd:.3f} (added by the run)")
    print(
        f"outputs identical (np.array_equal, all {total} runs, {ref.dtype} {ref.shape[0]} x {ref.shape[1]}): "
        f"{'yes' if identical else 'NO'}"
    )
    print("harmonybridge steps around the engine (median of 5, in-process):")
    for name, s in prof.items():
        print(f"  {name:<32}{s * 1000:>9.2f} ms")


# --- bench 2: the CLI at scale -------------------------------------------------------


def write_h5ad(path: Path, Z: np.ndarray, codes: np.ndarray) -> str:
    """A minimal .h5ad: X an empty sparse cells x 1 matrix, obs['batch'] categorical, obsm['X_pca']."""
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    X = sp.csr_matrix((Z.shape[0], 1), dtype=np.float32)
    obs = pd.DataFrame({"batch": batch_labels(codes)}, index=pd.RangeIndex(Z.shape[0]).astype(str))
    adata = ad.AnnData(X=X, obs=obs, obsm={"X_pca": Z})
    adata.write_h5ad(path)
    return (
        f"X = empty CSR {Z.shape[0]:,} x 1 float32 (no stored values); obs['batch'] categorical; obsm['X_pca'] float32"
    )


def parse_time_v(text: str) -> dict[str, float]:
    out = {}
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    if m:
        h, mnt, s = m.groups()
        out["wall_s"] = int(h or 0) * 3600 + int(mnt) * 60 + float(s)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["peak_mb"] = int(m.group(1)) / 1024
    for key, label in (("user_s", "User time"), ("sys_s", "System time")):
        m = re.search(label + r" \(seconds\): ([\d.]+)", text)
        if m:
            out[key] = float(m.group(1))
    return out


def run_stamped(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, list[tuple[float, str]]]:
    """Run cmd; stamp each stderr line (the CLI's log) with the seconds since the start."""
    import threading

    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
    reader.start()
    stamps = [(time.perf_counter() - t0, line.rstrip("\n")) for line in p.stderr]
    p.wait()
    reader.join()
    wall = time.perf_counter() - t0
    err = "\n".join(line for _, line in stamps)
    return subprocess.CompletedProcess(cmd, p.returncode, "".join(out), err), wall, stamps


def cli_phases(stamps: list[tuple[float, str]], wall: float) -> list[tuple[str, float]]:
    """Seconds of each CLI phase, from the times its log lines arrived."""
    marks = {}
    for t, line in stamps:
        for key, start in (
            ("read", "reading "),
            ("read_end", None),
            ("engine", "harmony (python, harmonypy"),
            ("engine_end", "harmony (python): "),
            ("write", "writing "),
        ):
            if start and line.startswith(start) and key not in marks:
                marks[key] = t
        if re.match(r"\d+ cells x \d+ genes", line) and "read_end" not in marks:
            marks["read_end"] = t
    if len(marks) < 5:
        return []
    return [
        ("start-up (interpreter, imports, argument checks)", marks["read"]),
        ("read .h5ad", marks["read_end"] - marks["read"]),
        ("input checks + parameters", marks["engine"] - marks["read_end"]),
        ("harmonypy (engine, incl. Z_corr fetch)", marks["engine_end"] - marks["engine"]),
        ("store result", marks["write"] - marks["engine_end"]),
        ("write .h5ad + exit", wall - marks["write"]),
    ]


def bench_scale(args: argparse.Namespace, tmp: Path) -> None:
    import h5py

    progress(f"generating {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches (seed {args.seed})")
    Z, codes = make_embedding(args.cells, args.pcs, args.batches, args.seed)
    save_data(tmp, Z, codes)
    src, out = tmp / "in.h5ad", tmp / "out.h5ad"
    progress(f"writing {src}")
    x_note = write_h5ad(src, Z, codes)
    del Z
    exe = shutil.which("harmonybridge", path=str(Path(sys.executable).parent)) or shutil.which("harmonybridge")
    cli = [
        exe,
        "run",
        str(src),
        "--batch",
        "batch",
        "--out",
        str(out),
        "--ncores",
        str(args.ncores),
        "--seed",
        str(args.seed),
    ]
    timer = shutil.which("time", path="/usr/bin")
    progress("CLI: " + " ".join(cli))
    if timer:
        proc, wall, stamps = run_stamped([timer, "-v", *cli])
        stats = parse_time_v(proc.stderr)
        how = "/usr/bin/time -v"
    else:  # getrusage of the children: only this one child has run in this process's lifetime
        proc, wall, stamps = run_stamped(cli)
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats = {"wall_s": wall, "peak_mb": ru.ru_maxrss / 1024, "user_s": ru.ru_utime, "sys_s": ru.ru_stime}
        how = "getrusage(RUSAGE_CHILDREN)"
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        msg = f"the CLI failed with exit code {proc.returncode}"
        raise RuntimeError(msg)
    stats.setdefault("wall_s", wall)
    cli_lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    engine = re.search(r"iterations, converged=\w+, ([\d.]+) s", proc.stdout)

    raw = None
    if not args.no_raw:
        progress("raw harmonypy on the same embedding (fresh process)")
        raw = run_worker("raw", tmp, args, tmp / "raw.npy")
    identical = None
    if raw is not None:
        with h5py.File(out, "r") as f:
            identical = bool(np.array_equal(f["obsm/X_pca_harmony"][()], np.load(tmp / "raw.npy")))

    print(
        f"== CLI at scale: {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches, seed {args.seed}, "
        f"ncores {args.ncores} =="
    )
    print(f"input: {src.stat().st_size / 2**20:.0f} MB .h5ad; {x_note}")
    print(f"command: harmonybridge run IN.h5ad --batch batch --out OUT.h5ad --ncores {args.ncores} --seed {args.seed}")
    for ln in cli_lines:
        print(f"  cli> {ln}")
    print(
        f"CLI wall time: {stats['wall_s']:.1f} s (user {stats.get('user_s', float('nan')):.1f} s, "
        f"sys {stats.get('sys_s', float('nan')):.1f} s); measured by {how}"
    )
    if engine:
        e = float(engine.group(1))
        print(f"  of which Harmony engine: {e:.1f} s; read + checks + write + start-up: {stats['wall_s'] - e:.1f} s")
    for name, sec in cli_phases(stamps, wall):
        print(f"  {name:<50}{sec:>8.2f} s")
    print(f"CLI peak RSS: {stats['peak_mb']:.0f} MB")
    if raw is not None:
        print(
            f"raw harmonypy on the same embedding: {raw['seconds']:.1f} s, peak RSS {raw['peak_mb']:.0f} MB "
            f"(RSS before the run {raw['rss_before_mb']:.0f} MB)"
        )
        if engine:
            print(f"CLI engine time / raw harmonypy: {float(engine.group(1)) / raw['seconds']:.3f}")
        print(f"CLI output identical to raw harmonypy (np.array_equal): {'yes' if identical else 'NO'}")


# --- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, help="cells (default 200,000; 1,000,000 with --scale; 20,000 with --quick)")
    p.add_argument("--pcs", type=int, default=50, help="PCs (default 50)")
    p.add_argument("--batches", type=int, default=8, help="batches (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each side, alternated (default 3)")
    p.add_argument("--seed", type=int, default=0, help="data seed and random_state of both sides (default 0)")
    p.add_argument("--ncores", type=int, help="threads for both sides (default: CPUs this process may use)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run (20,000 cells)")
    p.add_argument("--scale", action="store_true", help="the CLI on a 1,000,000-cell .h5ad instead of bench 1")
    p.add_argument("--no-raw", action="store_true", help="with --scale: skip the raw harmonypy comparison")
    p.add_argument("--tmp", help="folder for the data (default: a temporary folder, removed afterwards)")
    p.add_argument("--worker", choices=["hb", "raw"], help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.ncores is None:
        from harmonybridge.harmony.params import available_cores

        args.ncores = available_cores()
    if args.worker:
        worker(args)
        return 0
    if args.cells is None:
        args.cells = 20_000 if args.quick else 1_000_000 if args.scale else 200_000

    import harmonypy.harmony as hph

    print(
        f"python {sys.version.split()[0]}, harmonypy {_version('harmonypy')}, "
        f"harmonybridge {_version('harmonybridge')}, "
        f"anndata {_version('anndata')}, numpy {np.__version__}"
    )
    print(
        f"CPUs: harmonybridge's default ncores = {_hb_default()} (CPUs in affinity); harmonypy's default ncores=0 -> "
        f"{min(hph._physical_cores() or hph._available_cores(), hph._available_cores())} (physical cores); "
        f"both given ncores={args.ncores}"
    )
    parent = args.tmp
    with tempfile.TemporaryDirectory(prefix="hb_bench_", dir=parent) as d:
        (bench_scale if args.scale else bench_overhead)(args, Path(d))
    return 0


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _hb_default() -> int:
    from harmonybridge.harmony.params import available_cores

    return available_cores()


if __name__ == "__main__":
    sys.exit(main())
