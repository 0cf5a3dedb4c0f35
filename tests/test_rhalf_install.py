"""The R half travels in the wheel and is installed or updated in R on first use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from helpers import needs_r

from harmonybridge._rbridge import _install
from harmonybridge.cli._doctor import r_half_version

ROOT = Path(__file__).resolve().parents[1]
pytestmark = needs_r("SeuratObject")


def _outdated_library(tmp_path: Path, version: str = "0.0.1", source: str | None = None) -> Path:
    """An R library holding the R half under another version number (or this one, built from
    other sources: ``source`` is the fingerprint its DESCRIPTION records)."""
    src = tmp_path / "harmonybridge"
    shutil.copytree(ROOT / "r", src, ignore=shutil.ignore_patterns("tests"))
    desc = src / "DESCRIPTION"
    desc.write_text(re.sub(r"^Version: .*$", f"Version: {version}", desc.read_text(), flags=re.M))
    if source is not None:
        desc.write_text(desc.read_text().rstrip("\n") + f"\n{_install.FIELD}: {source}\n")
    lib = tmp_path / "rlib"
    lib.mkdir()
    subprocess.run(["R", "CMD", "INSTALL", "--no-test-load", "-l", str(lib), str(src)], check=True, capture_output=True)
    return lib


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment less what starting R in this process added (R's LD_LIBRARY_PATH breaks a new venv's ssl)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "R_HOME")}
    return {**env, **extra}


def _installed_version(lib: Path) -> str:
    text = (lib / "harmonybridge" / "DESCRIPTION").read_text()
    return re.search(r"^Version: (.*)$", text, flags=re.M).group(1)


def test_an_outdated_r_half_is_updated_on_first_use(tmp_path):
    lib = _outdated_library(tmp_path)
    assert _installed_version(lib) == "0.0.1"
    assert not r_half_version("0.0.1").ok and "R has 0.0.1" in r_half_version("0.0.1").note
    code = (
        "import harmonybridge._rbridge as rb; rb.require('harmonybridge'); print(rb.package_version('harmonybridge'))"
    )
    env = _clean_env(R_LIBS=str(lib))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    shipped = _install.shipped_version()
    assert proc.stdout.strip() == shipped
    assert _installed_version(lib) == shipped
    stamp = _install.shipped_stamp()
    assert f"installing its R half {stamp} into {lib} (the installed one is 0.0.1" in proc.stderr
    # Second use: nothing to do, nothing said.
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "installing" not in again.stderr


def test_the_same_version_from_other_sources_is_replaced(tmp_path):
    """Two checkouts of one version share R's library: the R half follows the sources, not the number."""
    version = _install.shipped_version()
    lib = _outdated_library(tmp_path, version=version, source="000000000000")
    code = "import harmonybridge._rbridge as rb; rb.require('harmonybridge')"
    env = _clean_env(R_LIBS=str(lib))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert f"(the installed one is {version} (source 000000000000)" in proc.stderr
    text = (lib / "harmonybridge" / "DESCRIPTION").read_text()
    assert f"{_install.FIELD}: {_install.fingerprint(_install.source_dir())}" in text
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "installing" not in again.stderr


def test_autoinstall_can_be_turned_off(tmp_path):
    lib = _outdated_library(tmp_path)
    code = (
        "import harmonybridge._rbridge as rb; rb.require('harmonybridge'); print(rb.package_version('harmonybridge'))"
    )
    env = _clean_env(R_LIBS=str(lib), HARMONYBRIDGE_R_AUTOINSTALL="0")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "0.0.1"
    assert _installed_version(lib) == "0.0.1"


def test_the_first_writable_library_or_the_user_library(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    user = tmp_path / "user" / "lib"
    if os.access(ro, os.W_OK):  # root writes anywhere: only the fallback's creation can be checked
        assert _install.writable_library([], str(user)) == user and user.is_dir()
    else:
        assert _install.writable_library([str(ro)], str(user)) == user and user.is_dir()
    assert _install.writable_library([str(tmp_path)], str(user)) == tmp_path


def test_the_wheel_carries_the_r_half_and_a_new_venv_converts_with_no_manual_r_step(tmp_path):
    """pip install of the wheel in a new venv; R holds an outdated R half: to_seurat works, updated on first use."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, env=_clean_env())  # fmt: skip
    (wheel,) = wheels.glob("harmonybridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {
        f"harmonybridge/_r/{p.relative_to(ROOT / 'r').as_posix()}" for p in (ROOT / "r").rglob("*") if p.is_file()
    }
    assert {n for n in shipped if "/tests/" not in n and ".Rcheck" not in n} <= names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_clean_env())
    from harmonybridge._rbridge import r_version

    rpy2 = "rpy2>=3.6,<3.7" if tuple(map(int, r_version().split(".")[:2])) >= (4, 5) else "rpy2>=3.5.17,<3.6"
    pip = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", str(wheel), rpy2],
                         capture_output=True, text=True, check=False, env=_clean_env())  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    lib = _outdated_library(tmp_path)
    code = (
        "import anndata, numpy as np, scipy.sparse as sp, harmonybridge as hb\n"
        "a = anndata.AnnData(sp.random(30, 20, density=0.3, format='csr', random_state=0, dtype=np.float32))\n"
        "a.obs_names = [f'c{i}' for i in range(30)]; a.var_names = [f'g{i}' for i in range(20)]\n"
        "b = hb.from_seurat(hb.to_seurat(a))\n"
        "assert (b.X != a.X).nnz == 0\n"
        "print(hb.__file__)\n"
    )
    proc = subprocess.run([venv / "bin" / "python", "-c", code], env=_clean_env(R_LIBS=str(lib)), cwd=tmp_path,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith(str(venv))
    assert _installed_version(lib) == _install.shipped_version()


def test_to_seurat_as_the_first_r_call_of_a_process(tmp_path):
    """R starts on the first call, whichever it is (a conversion built R vectors before R was up)."""
    code = (
        "import anndata, numpy as np, scipy.sparse as sp, harmonybridge as hb\n"
        "a = anndata.AnnData(sp.random(30, 20, density=0.3, format='csr', random_state=0, dtype=np.float32))\n"
        "b = hb.from_seurat(hb.to_seurat(a))\n"
        "assert (b.X != a.X).nnz == 0\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_clean_env(), cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
