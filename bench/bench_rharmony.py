"""harmonybridge's R backend against RunHarmony in Rscript: time, peak memory, identical output.

A = ``harmonybridge.run_harmony(adata, "batch", backend="r", ...)`` in a fresh Python process:
    the first call (R start-up through rpy2, loading harmony, the transfer in and out, RunHarmony)
    and then a second, warm call in the same process (R already running).
B = ``Rscript tests/r/run_harmony_direct.R``: R start-up, reading the raw float64 file and the
    batch TSV, ``harmony::RunHarmony`` (which it also times on its own and prints), writing the
    result; the whole process is timed.

Both get the same seeded synthetic embedding (float32 like scanpy's ``X_pca``, cell-type
clusters, PC variances falling like a real PCA's, per-batch cell-type mix and shift), the same
explicit parameters (``HarmonyParams(...).resolve(n, 1).to_r()``), ``set.seed`` and ``ncores``.
Runs alternate A, B, A, B, ... (``--repeats`` each). Peak memory is each child's own
``ru_maxrss`` (``os.wait4``). Then the transfer steps of the R backend (``float_matrix``,
``_batch_frame``, ``to_numpy``, ...) are timed in one more process.

Usage::

    python bench/bench_rharmony.py              # 200,000 cells x 50 PCs, 8 batches, 3 runs each
    python bench/bench_rharmony.py --quick      # 10,000 cells: a smoke run

Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

TARGET_PCT = 10.0
N_TYPES = 12
ROOT = Path(__file__).resolve().parent.parent
DIRECT = ROOT / "tests" / "r" / "run_harmony_direct.R"


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_embedding(cells: int, pcs: int, batches: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The shared generator (bench/_synthetic.py): 12 cell types, per-batch mix and shift; embedding and batch codes."""
    Z, batch, _ = _synthetic.make_embedding(cells, pcs, batches, seed, n_types=N_TYPES)
    return Z, batch


def batch_names(codes: np.ndarray) -> list[str]:
    return [f"batch{b}" for b in range(int(codes.max()) + 1)]


def params_spec(n_cells: int, ncores: int, seed: int) -> dict:
    """The JSON run_harmony_direct.R takes: R's names, every value explicit."""
    import harmonybridge

    r = harmonybridge.HarmonyParams(ncores=ncores, random_state=seed).resolve(n_cells, 1).to_r()
    spec = {"vars_use": ["batch"], "seed": r["seed"], "options": r["options"], **r["args"]}
    spec.pop("early_stop")  # the script passes early_stop = TRUE itself
    return spec


# --- children ------------------------------------------------------------------------


def run_child(cmd: list[str], tmp: Path, tag: str) -> dict:
    """Run cmd; wall time, its own peak RSS and CPU (os.wait4), stdout and stderr."""
    out_f, err_f = tmp / f"{tag}.out", tmp / f"{tag}.err"
    with open(out_f, "w") as so, open(err_f, "w") as se:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=so, stderr=se)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = out_f.read_text(), err_f.read_text()
    if p.returncode != 0:
        sys.stderr.write(stderr[-3000:])
        msg = f"{tag} failed with exit code {p.returncode}"
        raise RuntimeError(msg)
    return {
        "wall": wall,
        "peak_mb": ru.ru_maxrss / 1024,
        "cpu": ru.ru_utime + ru.ru_stime,
        "stdout": stdout,
        "stderr": stderr,
        "load1": os.getloadavg()[0],
    }


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def worker_hb(args: argparse.Namespace) -> None:
    """One fresh process: a cold call (R starts) and a warm call, both saved."""
    import anndata as ad
    import pandas as pd

    import harmonybridge

    data = Path(args.data)
    Z = np.load(data / "Z.npy")
    codes = np.load(data / "batch.npy")
    labels = pd.Categorical.from_codes(codes, categories=batch_names(codes))
    adata = ad.AnnData(
        obs=pd.DataFrame({"batch": labels}, index=pd.RangeIndex(Z.shape[0]).astype(str)), obsm={"X_pca": Z}
    )
    assert "rpy2.robjects" not in sys.modules  # R not started yet
    out = {"rss_before_mb": rss_mb()}
    for call in ("cold", "warm"):
        c0 = cpu_s()
        t0 = time.perf_counter()
        harmonybridge.run_harmony(adata, "batch", backend="r", ncores=args.ncores, random_state=args.seed)
        out[call] = time.perf_counter() - t0
        out[f"{call}_cpu"] = cpu_s() - c0
        out[f"{call}_engine_seconds"] = float(adata.uns["harmony"]["seconds"])  # run_r's own clock: transfer + R call
        out[f"{call}_rss_after_mb"] = rss_mb()
        out["n_iter"] = int(adata.uns["harmony"]["n_iter"])
        np.save(Path(args.save).with_suffix(f".{call}.npy"), adata.obsm["X_pca_harmony"])
    print(json.dumps(out))


def worker_profile(args: argparse.Namespace) -> None:
    """The R backend's steps around RunHarmony, each timed (median of 5) after R is warm."""
    import pandas as pd

    import harmonybridge
    from harmonybridge import _rbridge

    data = Path(args.data)
    Z = np.load(data / "Z.npy")
    codes = np.load(data / "batch.npy")
    meta = pd.DataFrame({"batch": pd.Categorical.from_codes(codes, categories=batch_names(codes))})
    n, d = Z.shape
    out = {}
    t0 = time.perf_counter()
    ro = _rbridge.robjects()
    out["start R (import rpy2.robjects)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ro.r("invisible(loadNamespace('harmony'))")
    out["loadNamespace('harmony') (Rscript pays this too)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _rbridge.require("harmony")
    out["require('harmony'): requireNamespace + asNamespace"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hb = _rbridge.hb()
    out["hb(): asNamespace('harmonybridge')"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    Zr = _rbridge.float_matrix(Z, d, n)
    frame = _rbridge.batch_frame(meta, ["batch"])
    out["first float_matrix + _batch_frame (cold)"] = time.perf_counter() - t0
    r = harmonybridge.HarmonyParams(ncores=args.ncores, random_state=args.seed).resolve(n, 1).to_r()
    a, o = r["args"], r["options"]
    kw = dict(
        theta=ro.FloatVector(a["theta"]),
        sigma=a["sigma"],
        nclust=a["nclust"],
        max_iter=a["max_iter"],
        ncores=a["ncores"],
        alpha=o["alpha"],
        tau=o["tau"],
        seed=r["seed"],
        verbose=False,
        **{
            "lambda": ro.NULL,
            "block.size": o["block.size"],
            "max.iter.cluster": o["max.iter.cluster"],
            "epsilon.cluster": o["epsilon.cluster"],
            "epsilon.harmony": o["epsilon.harmony"],
        },
    )
    t0 = time.perf_counter()
    res = hb.hb_run_harmony(Zr, frame, ro.StrVector(["batch"]), **kw)
    out["hb_run_harmony, first call in process (R side of run_r)"] = time.perf_counter() - t0
    emb = res.rx2("embedding")

    def med(fn, k: int = 5) -> float:
        ts = []
        for _ in range(k):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    Z64 = Z.astype(np.float64)
    steps = {
        "float_matrix(Z) (float32 -> float64 R matrix)": lambda: _rbridge.float_matrix(Z, d, n),
        "float_matrix(Z64) (already float64)": lambda: _rbridge.float_matrix(Z64, d, n),
        "_batch_frame(meta)": lambda: _rbridge.batch_frame(meta, ["batch"]),
        "to_numpy(embedding) (R -> NumPy)": lambda: _rbridge.to_numpy(emb, np.float64),
        "r_version() + package_version('harmony') (log line)": lambda: (
            _rbridge.r_version(),
            _rbridge.package_version("harmony"),
        ),
        "hb_versions(harmony, Rcpp, RcppArmadillo) (in R)": lambda: ro.r(
            "harmonybridge:::hb_versions(c('harmony','Rcpp','RcppArmadillo'))"
        ),
    }
    for name, fn in steps.items():
        out[name] = med(fn)
    # the R call itself, through rpy2, vs RunHarmony called from R in the same process on the same matrix
    ro.globalenv["hbZ"] = Zr
    ro.globalenv["hbmeta"] = frame
    ro.r(f"""hbopts <- harmony::harmony_options(alpha = {o["alpha"]}, tau = {o["tau"]}, block.size = {o["block.size"]},
        max.iter.cluster = {o["max.iter.cluster"]}, epsilon.cluster = {o["epsilon.cluster"]},
        epsilon.harmony = {o["epsilon.harmony"]})""")
    direct = ro.r(f"""function() {{ set.seed({r["seed"]});
        harmony::RunHarmony(hbZ, hbmeta, 'batch', theta = {a["theta"][0]},
        sigma = {a["sigma"]}, lambda = NULL, nclust = {a["nclust"]}, max_iter = {a["max_iter"]}, early_stop = TRUE,
        ncores = {a["ncores"]}, verbose = FALSE, .options = hbopts) }}""")
    for label in ("RunHarmony(PCs x cells) from R, same process, second call", "hb_run_harmony via rpy2, third call"):
        t0 = time.perf_counter()
        direct() if label.startswith("RunHarmony") else hb.hb_run_harmony(Zr, frame, ro.StrVector(["batch"]), **kw)
        out[label] = time.perf_counter() - t0
        if args.quick:
            break
    print(json.dumps(out))


# --- main bench ------------------------------------------------------------------------


def bench(args: argparse.Namespace, tmp: Path) -> None:
    progress(f"generating {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches (seed {args.seed})")
    Z, codes = make_embedding(args.cells, args.pcs, args.batches, args.seed)
    np.save(tmp / "Z.npy", Z)
    np.save(tmp / "batch.npy", codes)
    # Rscript's inputs: the same float32 values as doubles (exact), batch labels as text, the params JSON
    np.ascontiguousarray(Z, dtype=np.float64).tofile(tmp / "pcs.f64")
    names = np.array(batch_names(codes))
    (tmp / "meta.tsv").write_text("batch\n" + "\n".join(names[codes]) + "\n")
    spec = params_spec(args.cells, args.ncores, args.seed)
    (tmp / "params.json").write_text(json.dumps(spec))
    data_mb = Z.nbytes / 2**20
    del Z
    rscript = shutil.which("Rscript")
    hb_cmd = [
        sys.executable,
        __file__,
        "--worker",
        "hb",
        "--data",
        str(tmp),
        "--seed",
        str(args.seed),
        "--ncores",
        str(args.ncores),
    ]
    runs: dict[str, list[dict]] = {"hb": [], "rscript": []}
    outs: list[Path] = []
    for i in range(args.repeats):
        progress(f"run {2 * i + 1}/{2 * args.repeats}: harmonybridge backend='r' (fresh process: cold + warm call)")
        save = tmp / f"hb_{i}"
        r = run_child([*hb_cmd, "--save", str(save)], tmp, f"hb{i}")
        r.update(json.loads(r["stdout"].strip().splitlines()[-1]))
        runs["hb"].append(r)
        outs += [save.with_suffix(".cold.npy"), save.with_suffix(".warm.npy")]
        progress(
            f"  hb: cold call {r['cold']:.2f} s ({r['cold_cpu']:.1f} cpu s), warm call {r['warm']:.2f} s, "
            f"process {r['wall']:.2f} s, peak {r['peak_mb']:.0f} MB"
        )
        progress(f"run {2 * i + 2}/{2 * args.repeats}: Rscript run_harmony_direct.R")
        out_f = tmp / f"rs_{i}.f64"
        r = run_child(
            [
                rscript,
                str(DIRECT),
                str(tmp / "pcs.f64"),
                str(args.cells),
                str(tmp / "meta.tsv"),
                str(tmp / "params.json"),
                str(out_f),
            ],
            tmp,
            f"rs{i}",
        )
        m = re.search(r"RunHarmony: ([\d.]+) s", r["stderr"])
        r["runharmony"] = float(m.group(1)) if m else float("nan")
        runs["rscript"].append(r)
        outs.append(out_f)
        progress(
            f"  Rscript: process {r['wall']:.2f} s ({r['cpu']:.1f} cpu s; RunHarmony {r['runharmony']:.2f} s), "
            f"peak {r['peak_mb']:.0f} MB"
        )

    def load(p: Path) -> np.ndarray:
        return np.load(p) if p.suffix == ".npy" else np.fromfile(p, dtype=np.float64).reshape(args.cells, args.pcs)

    ref = load(outs[-1])  # an Rscript output
    identical = all(np.array_equal(ref, load(p)) for p in outs)
    progress("profiling the R backend's transfer steps (one more process)")
    prof_run = run_child([*hb_cmd, "--worker", "profile"] + ([] if args.full_profile else ["--quick"]), tmp, "profile")
    prof = json.loads(prof_run["stdout"].strip().splitlines()[-1])

    hb, rs = runs["hb"], runs["rscript"]
    med = lambda xs: statistics.median(xs)  # noqa: E731
    cold, warm, hb_proc = med([r["cold"] for r in hb]), med([r["warm"] for r in hb]), med([r["wall"] for r in hb])
    rs_proc, rs_rh = med([r["wall"] for r in rs]), med([r["runharmony"] for r in rs])
    print(
        f"== harmonybridge R backend vs Rscript RunHarmony: {args.cells:,} cells x {args.pcs} PCs, "
        f"{args.batches} batches, "
        f"float32 ({data_mb:.0f} MB), seed {args.seed}, ncores {args.ncores} for both =="
    )
    print(f"parameters (both): {json.dumps(spec)}")
    print(
        f"CPUs {os.cpu_count()}; 1-min load average at the end {os.getloadavg()[0]:.2f} "
        "(other processes add noise to wall time)"
    )
    print(
        "A = fresh python: harmonybridge.run_harmony(adata, 'batch', backend='r', ncores=N, random_state=S) twice "
        "(cold: starts R; warm: second call)"
    )
    print("B = Rscript tests/r/run_harmony_direct.R (R start + readBin + read.delim + RunHarmony + writeBin)")
    print(
        f"{'run':<5}{'side':<9}{'process s':>10}{'call s':>9}{'warm s':>9}{'RunHarmony s':>14}{'cpu s':>8}{'iters':>7}"
        f"{'peak MB':>9}{'load1 after':>12}"
    )
    for i in range(args.repeats):
        a, b = hb[i], rs[i]
        print(
            f"{i + 1:<5}{'hb':<9}{a['wall']:>10.2f}{a['cold']:>9.2f}{a['warm']:>9.2f}{'':>14}{a['cpu']:>8.1f}"
            f"{a['n_iter']:>7}{a['peak_mb']:>9.0f}{a['load1']:>12.2f}"
        )
        print(
            f"{i + 1:<5}{'Rscript':<9}{b['wall']:>10.2f}{'':>9}{'':>9}{b['runharmony']:>14.2f}{b['cpu']:>8.1f}"
            f"{'':>7}{b['peak_mb']:>9.0f}{b['load1']:>12.2f}"
        )
    print(f"median hb cold call (R start-up + packages + transfer + RunHarmony + back): {cold:.2f} s")
    print(f"median hb warm call (transfer + RunHarmony + back):                         {warm:.2f} s")
    print(f"median hb whole process (python start, imports, np.load, both calls):       {hb_proc:.2f} s")
    print(f"median Rscript whole process (R start, read data, RunHarmony, write):        {rs_proc:.2f} s")
    print(f"median RunHarmony alone inside Rscript (its own proc.time):                  {rs_rh:.2f} s")
    r1, r2 = cold / rs_proc, warm / rs_rh
    verdict = lambda x: "met" if (x - 1) * 100 <= TARGET_PCT else "NOT met"  # noqa: E731
    print(
        f"ratio 1 (user's view) hb cold call / Rscript whole process: {r1:.3f} ({(r1 - 1) * 100:+.1f}%; "
        f"target <= +{TARGET_PCT:.0f}%: {verdict(r1)})"
    )
    print(
        f"ratio 2 (engine view) hb warm call / RunHarmony alone:      {r2:.3f} ({(r2 - 1) * 100:+.1f}%; "
        f"target <= +{TARGET_PCT:.0f}%: {verdict(r2)})"
    )
    print(
        "  (the headline ratio is ratio 1; ratio 2 charges us the transfer and R->NumPy copy that "
        "RunHarmony alone does not pay)"
    )
    c_cold, c_warm, c_rs = (
        med([r["cold_cpu"] for r in hb]),
        med([r["warm_cpu"] for r in hb]),
        med([r["cpu"] for r in rs]),
    )
    print(
        f"CPU seconds (user+sys, all threads; less sensitive to other load than wall time): hb cold call {c_cold:.1f}, "
        f"warm call {c_warm:.1f}; Rscript whole process {c_rs:.1f}; ratio cold / Rscript {c_cold / c_rs:.3f} "
        f"({(c_cold / c_rs - 1) * 100:+.1f}%)"
    )
    hp, rp = max(r["peak_mb"] for r in hb), max(r["peak_mb"] for r in rs)
    print(
        f"peak RSS (ru_maxrss of each child, max over runs): hb process {hp:.0f} MB (python + embedded R, two calls; "
        f"RSS before the first call {med([r['rss_before_mb'] for r in hb]):.0f} MB), "
        f"Rscript {rp:.0f} MB; ratio {hp / rp:.2f}"
    )
    print(
        f"outputs identical (np.array_equal; {len(outs)} outputs: {args.repeats} cold + {args.repeats} warm hb, "
        f"{args.repeats} Rscript; float64 {args.cells} x {args.pcs}): {'yes' if identical else 'NO'}"
    )
    print("R backend steps (one fresh process, in order; the conversions are medians of 5 once R is warm):")
    for name, s in prof.items():
        print(f"  {name:<58}{s * 1000:>10.1f} ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, help="cells (default 200,000; 10,000 with --quick)")
    p.add_argument("--pcs", type=int, default=50, help="PCs (default 50)")
    p.add_argument("--batches", type=int, default=8, help="batches (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each side, alternated (default 3)")
    p.add_argument("--seed", type=int, default=0, help="data seed and random_state/set.seed of both sides (default 0)")
    p.add_argument("--ncores", type=int, help="threads for both sides (default: CPUs this process may use)")
    p.add_argument("--quick", action="store_true", help="10,000 cells, 2 runs each: a smoke run")
    p.add_argument(
        "--full-profile",
        action="store_true",
        help="in the profile process, also time RunHarmony from R and hb_run_harmony again (2 more runs)",
    )
    p.add_argument("--tmp", help="folder for the data (default: a temporary folder, removed afterwards)")
    p.add_argument("--worker", choices=["hb", "profile"], help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ncores is None:
        from harmonybridge.harmony.params import available_cores

        args.ncores = available_cores()
    if args.worker == "hb":
        worker_hb(args)
        return 0
    if args.worker == "profile":
        worker_profile(args)
        return 0
    if args.cells is None:
        args.cells = 10_000 if args.quick else 200_000
    if args.quick and args.repeats == 3:
        args.repeats = 2
    if shutil.which("Rscript") is None:
        print("Rscript not found on PATH", file=sys.stderr)
        return 1
    ver = subprocess.run(
        [shutil.which("Rscript"), "-e", "cat(as.character(getRversion()), as.character(packageVersion('harmony')))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    from importlib.metadata import version

    print(
        f"python {sys.version.split()[0]}, rpy2 {version('rpy2')}, harmonybridge {version('harmonybridge')}, "
        f"R {ver[0]}, harmony {ver[1]}, numpy {np.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="hb_rbench_", dir=args.tmp) as d:
        bench(args, Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
