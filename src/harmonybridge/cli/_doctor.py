"""``harmonybridge doctor``: every piece of the stack, its version, OK or the problem and its fix."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass

from harmonybridge._core.warnings import pkg_version, version_tuple


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check Python, R, Seurat, harmony and rpy2; say how to fix what is wrong")
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks()
    print(f"{'component':<22} {'version':<14} {'status':<8} note")
    for c in checks:
        print(c.line())
    core = {"Python", "anndata", "scanpy", "harmonypy"}
    bad = [c for c in checks if not c.ok]
    print(
        f"{len(checks) - len(bad)} of {len(checks)} OK"
        + (f"; problems: {', '.join(c.name for c in bad)}" if bad else "")
    )
    return 1 if any(c.name in core for c in bad) else 0


@dataclass
class Check:
    name: str
    version: str | None
    ok: bool
    note: str = ""

    def line(self) -> str:
        status = "OK" if self.ok else "PROBLEM"
        return f"{self.name:<22} {self.version or '-':<14} {status:<8} {self.note}"


def _rscript(code: str, timeout: float = 60) -> tuple[int, str]:
    exe = shutil.which("Rscript")
    if exe is None:
        return 127, "Rscript not found"
    proc = subprocess.run([exe, "--vanilla", "-e", code], capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, (proc.stdout.strip() or proc.stderr.strip())


def _python_pkg(name: str, minimum: tuple[int, ...] | None, fix: str, required: bool = True) -> Check:
    found = pkg_version(name)
    if found is None:
        return Check(
            name, None, not required, f"not installed; {fix}" if required else f"optional, not installed ({fix})"
        )
    if minimum and version_tuple(found) < minimum:
        return Check(name, found, False, f"need >= {'.'.join(map(str, minimum))}; {fix}")
    return Check(name, found, True)


def rpy2_status(r_version: str | None) -> Check:
    """rpy2 installed, matching R, and importable (checked in a subprocess: a bad rpy2 can crash)."""
    found = pkg_version("rpy2") or pkg_version("rpy2-robjects")
    if found is None:
        return Check("rpy2", None, False, "not installed; pip install 'harmonybridge[r]' (or make setup)")
    if r_version:
        want_36 = version_tuple(r_version) >= (4, 5)
        if want_36 and version_tuple(found) < (3, 6):
            return Check("rpy2", found, False, f"R {r_version} needs rpy2 3.6.x: pip install 'rpy2>=3.6,<3.7'")
        if not want_36 and version_tuple(found) >= (3, 6):
            return Check(
                "rpy2",
                found,
                False,
                f"rpy2 3.6 needs R >= 4.5 but R is {r_version} (import fails: undefined symbol R_getVar); "
                "pip uninstall -y rpy2 rpy2-rinterface rpy2-robjects && pip install 'rpy2>=3.5.17,<3.6'",
            )
    proc = subprocess.run(
        [sys.executable, "-c", "import rpy2.robjects as ro; print(ro.r('R.version.string')[0])"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["import failed"])[-1]
        return Check("rpy2", found, False, f"import fails: {last}")
    return Check("rpy2", found, True, f"embeds {proc.stdout.strip()}")


R_PACKAGES = {
    "Seurat": "apt-get install r-cran-seurat (or install.packages('Seurat'))",
    "SeuratObject": "apt-get install r-cran-seuratobject (or install.packages('SeuratObject'))",
    "SingleCellExperiment": "apt-get install r-bioc-singlecellexperiment",
    "harmony": (
        "in R: install.packages('harmony'); offline, from a CRAN-like folder or mirror: "
        "HARMONYBRIDGE_R_REPOS=/path/to/cran make setup (needed for backend='r' only)"
    ),
    "harmonybridge": "make setup (installs r/: python -m harmonybridge._rbridge._install)",
}


def r_half_version(installed: str) -> Check:
    """Whether R's harmonybridge is the one this Python package ships, version and sources (it is
    updated on first use)."""
    from harmonybridge._rbridge import shipped_stamp

    shipped = shipped_stamp()
    if shipped is None:
        return Check("R half matches", None, False, "this harmonybridge ships no R sources (harmonybridge/_r or r/)")
    if installed == shipped:
        return Check("R half matches", shipped, True, "R's harmonybridge is the version this Python package ships")
    now = "not installed" if installed == "NA" else f"R has {installed}"
    return Check(
        "R half matches",
        shipped,
        False,
        f"{now}, this package ships {shipped}: it is installed on first use, or now: "
        "python -m harmonybridge._rbridge._install",
    )


def _installed_r_half() -> str:
    from harmonybridge._rbridge import INSTALLED_STAMP
    from harmonybridge._rbridge import R_PACKAGE as PACKAGE

    code, out = _rscript(f"cat(({INSTALLED_STAMP})('{PACKAGE}'))")
    return out.strip() if code == 0 and out.strip() else "NA"


def harmony_build() -> Check:
    """Which R harmony build R loads: library and single/double precision (chosen when it was compiled)."""
    code, out = _rscript("b <- harmonybridge:::hb_harmony_build(); cat(b$version, b$precision, b$library, sep = '\\t')")
    if code != 0:
        return Check("R harmony build", None, False, f"could not be read: {out.splitlines()[-1] if out else code}")
    version, precision, library = out.split("\t")
    note = f"{precision} precision, loaded from {library}"
    if precision == "unknown":
        note += " (its shared library links no BLAS routine harmonybridge recognises)"
    return Check("R harmony build", version, True, note)


def run_checks() -> list[Check]:
    """All checks, in the order they are printed."""
    checks = [
        Check(
            "Python",
            sys.version.split()[0],
            sys.version_info >= (3, 11),
            "" if sys.version_info >= (3, 11) else "need >= 3.11",
        ),
        _python_pkg("anndata", (0, 10), "pip install -U anndata"),
        _python_pkg("scanpy", (1, 10), "pip install -U scanpy"),
        _python_pkg("harmonypy", (2, 1), "pip install -U 'harmonypy>=2.1'"),
    ]
    code, out = _rscript("cat(as.character(getRversion()))")
    r_version = out if code == 0 else None
    if r_version is None:
        checks.append(
            Check("R", None, False, "Rscript not found; apt-get install r-base-dev (needed for backend='r' and Seurat)")
        )
    else:
        checks.append(Check("R", r_version, True))
    checks.append(rpy2_status(r_version))
    if r_version is not None:
        names = ", ".join(f"'{p}'" for p in R_PACKAGES)
        code, out = _rscript(
            f"for (p in c({names})) cat(p, if (requireNamespace(p, quietly = TRUE)) "
            "as.character(packageVersion(p)) else 'NA', '\\n')"
        )
        found = dict(line.split() for line in out.splitlines() if len(line.split()) == 2) if code == 0 else {}
        for pkg, fix in R_PACKAGES.items():
            v = found.get(pkg, "NA")
            checks.append(
                Check(f"R {pkg}", None if v == "NA" else v, v != "NA", "" if v != "NA" else f"not installed; {fix}")
            )
        checks.append(r_half_version(_installed_r_half() if found.get("harmonybridge", "NA") != "NA" else "NA"))
        if found.get("harmony", "NA") != "NA":
            checks.append(harmony_build())
        code, out = _rscript("cat(extSoftVersion()[['BLAS']])")
        blas = out if code == 0 else ""
        fast = "openblas" in blas.lower() or "mkl" in blas.lower()
        checks.append(
            Check(
                "R BLAS",
                "/".join(blas.split("/")[-2:]) or None,
                True,
                "" if fast else "reference BLAS (slow); apt-get install libopenblas0-pthread",
            )
        )
    return checks
