# `make demo` and `make test` each set up a fresh machine first (idempotent, see scripts/setup.sh).
.PHONY: setup demo test test-python test-r check-r test-trixie lint clean

VENV := .venv
PY := $(VENV)/bin/python
# The R tests run this checkout's Python (not whichever checkout ran its set-up last).
RPY := HARMONYBRIDGE_PYTHON=$(CURDIR)/$(PY)

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/harmonybridge demo --out out/demo

test: setup lint test-python test-r check-r test-trixie

# ruff with the configuration in pyproject.toml, over everything Python in the repository.
lint:
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

# pytest exits 5 when it collected no test: that is a failure here.
test-python:
	@$(PY) -m pytest -q; s=$$?; if [ $$s -eq 5 ]; then echo "pytest ran no test" >&2; exit 1; fi; exit $$s

test-r:
	$(RPY) Rscript scripts/run_testthat.R

# R CMD check of the R half (no PDF manual): fails on an ERROR or a WARNING, NOTEs are listed.
# R_LIBS is passed through, so a private library (R_LIBS=.rlib) goes first for the check too.
check-r:
	@rm -rf out/check-r && mkdir -p out/check-r
	cd out/check-r && R CMD build --no-build-vignettes ../../r >build.log 2>&1 || { cat build.log; exit 1; }
	cd out/check-r && _R_CHECK_FORCE_SUGGESTS_=false $(RPY) R CMD check --no-manual harmonybridge_*.tar.gz >check.log 2>&1; s=$$?; cat check.log; \
	  if [ $$s -ne 0 ] || grep -q "^Status:.*\(ERROR\|WARNING\)" check.log; then grep -A6 '\.\.\. *\(ERROR\|WARNING\)$$' check.log >&2; echo "R CMD check: ERROR or WARNING (see above)" >&2; exit 1; fi

# The Seurat-5 stack (Debian trixie: R 4.5, Seurat 5, Python 3.13) in a cached chroot; see scripts/trixie.sh.
# A machine that cannot build it (not root, no debootstrap, no network) prints one line and skips it.
test-trixie:
	@bash scripts/trixie.sh test

clean:
	rm -rf out .pytest_cache .hypothesis
