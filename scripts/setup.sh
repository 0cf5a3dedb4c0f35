#!/usr/bin/env bash
# Set up a machine for harmonybridge, idempotently: Debian's R with Seurat, a .venv with the
# package and an rpy2 matching that R, harmonybridge's R half, and (if it can be had) R harmony.
# Every step is skipped when already done; run it as often as you like.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STAMPS="$ROOT/.setup-stamps"
mkdir -p "$STAMPS"
PY=${PYTHON:-python3}
say() { printf '[setup] %s\n' "$*" >&2; }

# 1. R and Seurat from Debian (CRAN itself may be unreachable; Debian's packages are not).
# The r-cran-* after testthat are R harmony's dependencies (Seurat pulls most of them in already).
APT_PKGS="r-base-dev r-cran-seurat r-cran-seuratobject r-bioc-singlecellexperiment libopenblas0-pthread r-cran-testthat r-cran-cli r-cran-matrix
r-cran-rcpp r-cran-rcpparmadillo r-cran-rcppprogress r-cran-dplyr r-cran-cowplot r-cran-ggplot2 r-cran-tibble r-cran-rlang
r-cran-reticulate debootstrap"
missing=""
for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages:$missing (about 3 minutes)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    say "missing Debian packages:$missing; run as root: apt-get install$missing"
    exit 1
  fi
fi
R_VERSION=$(Rscript -e 'cat(as.character(getRversion()))')
say "R $R_VERSION"

# 2. The virtual environment and the package, with the rpy2 release that fits this R.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
case "$R_VERSION" in
  4.[5-9]*|[5-9].*) RPY2_SPEC='rpy2>=3.6,<3.7' ;;
  *) RPY2_SPEC='rpy2>=3.5.17,<3.6' ;;
esac
want="$(cat pyproject.toml | sha1sum | cut -c1-12)-$R_VERSION-$RPY2_SPEC"
if [ "$(cat "$STAMPS/pip" 2>/dev/null)" != "$want" ]; then
  say "installing harmonybridge and its dependencies into .venv ($RPY2_SPEC for R $R_VERSION)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # rpy2 3.6 split itself into rpy2-rinterface/rpy2-robjects; those shadow a 3.5 install.
  if ! .venv/bin/python -c "import sys; from importlib.metadata import version; v=version('rpy2'); sys.exit(0 if v.startswith('$( [ "$RPY2_SPEC" = 'rpy2>=3.6,<3.7' ] && echo 3.6 || echo 3.5 )') else 1)" 2>/dev/null; then
    .venv/bin/python -m pip uninstall -q -y rpy2 rpy2-rinterface rpy2-robjects >/dev/null 2>&1 || true
  fi
  .venv/bin/python -m pip install -q -e ".[r,test,bench,mudata]" "$RPY2_SPEC" >"$STAMPS/pip.log" 2>&1 \
    || { grep -v "is ignored: it is neither" "$STAMPS/pip.log" | tail -n 30 >&2; exit 1; }
  echo "$want" > "$STAMPS/pip"
fi

# 3. harmonybridge's R half (r/): installed unless R has this very one (its version and the
# fingerprint of its sources, which the install records in its DESCRIPTION).
.venv/bin/python -m harmonybridge._rbridge._install >"$STAMPS/rpkg.log" 2>&1 || { tail -n 30 "$STAMPS/rpkg.log" >&2; exit 1; }
if grep -q "installed into" "$STAMPS/rpkg.log"; then say "$(tail -n 1 "$STAMPS/rpkg.log")"; fi
# R's RunHarmonyPy() and CrossCheckHarmony() run harmonybridge's Python engine through reticulate;
# they find this .venv's python in this per-user record (r/R/python.R: after their `python`
# argument and HARMONYBRIDGE_PYTHON, before reticulate's own choice).
Rscript -e 'd <- tools::R_user_dir("harmonybridge", "config"); dir.create(d, recursive = TRUE, showWarnings = FALSE); writeLines(commandArgs(TRUE)[1], file.path(d, "python"))' "$ROOT/.venv/bin/python"

# 4. R harmony, the way R users get it: install.packages() from CRAN, then from any CRAN-like
#    repository named in HARMONYBRIDGE_R_REPOS, else ../shared/cran when it exists (offline installs).
#    Without it the R engine is unavailable; its tests skip (or fail under CI's HARMONYBRIDGE_REQUIRE_R=1).
if ! Rscript scripts/install_rharmony.R "$ROOT/../shared/cran" 2>&1 | tee "$STAMPS/rharmony.log" | grep '^\[setup\]' >&2; then :; fi
say "ready: .venv/bin/harmonybridge doctor checks the whole stack"
