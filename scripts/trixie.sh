#!/usr/bin/env bash
# The second test stack, the one most users have: Debian trixie (R 4.5, Seurat 5, SeuratObject 5,
# Python 3.13, rpy2 3.6) in a chroot built with debootstrap and cached OUTSIDE the repo.
#
#   bash scripts/trixie.sh build               build the root unless it is cached (see ROOTFS below)
#   bash scripts/trixie.sh test [PYTEST ARGS]  copy the working tree into the root, pytest + R testthat there
#   bash scripts/trixie.sh run CMD [ARGS]      same preparation, then run CMD there (e.g. harmonybridge doctor)
#   bash scripts/trixie.sh shell               an interactive shell in the prepared tree
#   bash scripts/trixie.sh path                print the root's directory
#
# The root is rebuilt only when it is missing or its recipe (suite, variant, package list, RECIPE_VERSION)
# changed; it is built in a temporary directory and renamed when complete, so an interrupted build never
# leaves a root that looks finished. /proc, /dev and /sys are mounted only while a command runs.
# The mirror, DNS, CA certificates and pip's configuration are read from this host at run time.
#
# Environment: HARMONYBRIDGE_TRIXIE=skip     skip the stack (one line, exit 0)
#              HARMONYBRIDGE_TRIXIE=require  a machine that cannot run the stack is an error, not a skip
#              HARMONYBRIDGE_CACHE           where roots live (default /var/cache/harmonybridge)
#              HARMONYBRIDGE_TRIXIE_MIRROR   Debian mirror URL (default: the host's apt sources)
#              HARMONYBRIDGE_TRIXIE_REINSTALL=1  recreate the root's venv (it is otherwise kept until
#                                            pyproject.toml changes, so newer PyPI releases are not picked up)
set -uo pipefail

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # chroot, mount, debootstrap live there
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${HARMONYBRIDGE_CACHE:-/var/cache/harmonybridge}

# --- the recipe: change any of it (or bump RECIPE_VERSION when build steps change) and the root is rebuilt.
RECIPE_VERSION=1
SUITE=trixie
VARIANT=minbase
# The harmony dependencies (rhpcblasctl ... ggplot2) are plain Debian packages; R harmony itself is not
# in Debian: prepare() installs it into the root once, with scripts/install_rharmony.R (CRAN, then
# HARMONYBRIDGE_R_REPOS, else ../shared/cran), as on the host.
PACKAGES="r-base-dev r-cran-seurat r-cran-seuratobject r-bioc-singlecellexperiment libopenblas0-pthread
r-cran-testthat r-cran-cli r-cran-matrix python3 python3-venv python3-dev build-essential
r-cran-rhpcblasctl r-cran-rcpp r-cran-rcpparmadillo r-cran-rcppprogress r-cran-cowplot r-cran-dplyr r-cran-tibble r-cran-rlang r-cran-ggplot2
r-cran-reticulate"
RPY2_SPEC='rpy2>=3.6,<3.7'
KEY=$(printf '%s\n' "$RECIPE_VERSION" "$SUITE" "$VARIANT" $PACKAGES | sha1sum | cut -c1-12)
ROOTFS="$CACHE/$SUITE-$KEY"
# Inside the root: the copy of the working tree, its ../shared sibling, and the venv.
IN_REPO=/hb/repo
IN_SHARED=/hb/shared
IN_VENV=/opt/hb-venv
IN_PATH="$IN_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

T0=$(date +%s)
say() { printf '[trixie] %s\n' "$*" >&2; }
since() { echo "$(($(date +%s) - $1)) s"; }

# --- mounts, always undone on exit
MOUNTS=()
BUILD_TMP=""
unmount_all() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || say "could not unmount ${MOUNTS[$i]}"
  done
  MOUNTS=()
}
# Long build steps run in their own process group, so that an interruption stops all of them at once
# (bash would otherwise wait for debootstrap to finish before running the trap).
CHILD=""
child() {  # child LOG CMD...
  local log=$1; shift
  setsid "$@" >>"$log" 2>&1 &
  CHILD=$!
  wait "$CHILD"
  local rc=$?
  CHILD=""
  return "$rc"
}
cleanup() {
  if [ -n "$CHILD" ]; then
    kill -TERM -- "-$CHILD" 2>/dev/null
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$CHILD" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$CHILD" 2>/dev/null
    CHILD=""
  fi
  unmount_all
  if [ -n "$BUILD_TMP" ] && [ -d "$BUILD_TMP" ]; then
    safe_rm "$BUILD_TMP" && say "removed the unfinished build $BUILD_TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mounted_under() { awk -v d="$1/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; }
unmount_below() {
  local m
  for m in $(awk -v d="$1/" 'index($2 "/", d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
# Remove a directory only when nothing is mounted below it (a bind mount of host data must never be deleted).
safe_rm() {
  local d=$1
  unmount_below "$d"
  if mounted_under "$d"; then say "not removing $d: something is still mounted below it"; return 1; fi
  rm -rf --one-file-system "$d"
}
do_mount() {  # do_mount TARGET MOUNT-ARGS...
  local target=$1; shift
  mkdir -p "$target"
  mount "$@" "$target" || { say "mount $* $target failed"; return 1; }
  MOUNTS+=("$target")
}
mount_system() {  # /proc, /sys, /dev (+pts, shm) for the duration of this script
  local r=$1
  do_mount "$r/proc" -t proc proc || return 1
  do_mount "$r/sys" -t sysfs -o ro sysfs 2>/dev/null || do_mount "$r/sys" --bind /sys || return 1
  do_mount "$r/dev" --bind /dev || return 1
  [ -d /dev/pts ] && { do_mount "$r/dev/pts" --bind /dev/pts || return 1; }
  do_mount "$r/dev/shm" -t tmpfs -o mode=1777 tmpfs || return 1
}
bind_ro() {  # bind_ro SRC TARGET
  do_mount "$2" --bind "$1" || return 1
  mount -o remount,bind,ro "$2" || { say "could not make $2 read-only"; return 1; }
}

# --- what the machine can or cannot do
cannot() {
  if [ "${HARMONYBRIDGE_TRIXIE:-}" = require ]; then
    say "ERROR: cannot run the Seurat-5 stack (Debian trixie): $*"
    exit 1
  fi
  echo "[trixie] SKIPPED the Seurat-5 stack (Debian trixie, R 4.5, Seurat 5): $*"
  exit 0
}

# The host's Debian mirror, from its apt sources (one-line and deb822 formats).
host_mirror() {
  if [ -n "${HARMONYBRIDGE_TRIXIE_MIRROR:-}" ]; then echo "$HARMONYBRIDGE_TRIXIE_MIRROR"; return; fi
  local codename f
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v c="$codename" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == c) { print $i; exit } }' "$f"
  done | head -n 1 | grep . && return 0
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v c="$codename" '
      function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " c " ") && uri != "") { print uri; done = 1; exit } types = suites = uri = "" }
      /^[ \t]*$/ { flush(); next }
      /^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types) }
      /^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
      /^URIs:/ { uri = $2 }
      END { if (!done) flush() }' "$f"
  done | head -n 1 | grep .
}

reachable() {
  local url=$1
  if command -v curl >/dev/null; then curl -fsS --max-time 20 -o /dev/null "$url" 2>/dev/null
  elif command -v wget >/dev/null; then wget -q -T 20 -O /dev/null "$url"
  else return 0; fi
}

preflight() {
  [ "${HARMONYBRIDGE_TRIXIE:-}" = skip ] && cannot "HARMONYBRIDGE_TRIXIE=skip"
  [ "$(uname -s)" = Linux ] || cannot "not Linux"
  [ "$(id -u)" = 0 ] || cannot "not root (a chroot needs root; run as root: bash scripts/trixie.sh test)"
  local t
  for t in chroot mount umount flock tar sha1sum; do command -v "$t" >/dev/null || cannot "$t not found"; done
  unshare --mount true 2>/dev/null || cannot "no permission to mount (a container without CAP_SYS_ADMIN?)"
  if [ ! -f "$ROOTFS/.hb-complete" ]; then
    command -v debootstrap >/dev/null || cannot "debootstrap not installed (apt-get install debootstrap) and no cached root in $ROOTFS"
    MIRROR=$(host_mirror) || cannot "no Debian mirror found in the host's apt sources (set HARMONYBRIDGE_TRIXIE_MIRROR)"
    reachable "$MIRROR/dists/$SUITE/Release" || cannot "the Debian mirror $MIRROR is unreachable (no network?)"
  fi
}

# The environment inside the root: clean, plus pip's and the proxy settings of this host.
# HARMONYBRIDGE_PYTHON: the R package's RunHarmonyPy()/CrossCheckHarmony() run the venv's Python through reticulate
ENVS=(HOME=/root "PATH=$IN_PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8 TMPDIR=/tmp DEBIAN_FRONTEND=noninteractive "HARMONYBRIDGE_PYTHON=$IN_VENV/bin/python")
for v in $(compgen -e); do
  case "$v" in PIP_*|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|TERM|HARMONYBRIDGE_REQUIRE_*|HARMONYBRIDGE_R_REPOS) ENVS+=("$v=${!v}") ;; esac
done
in_root() {  # in_root CMD...
  chroot "$ROOTFS" /usr/bin/env -i "${ENVS[@]}" "$@"
}

# Copy the host's network settings in (DNS, CA certificates), fresh on every run.
host_net() {
  local r=$1 f
  for f in /etc/resolv.conf /etc/hosts; do
    [ -e "$f" ] && { rm -f "$r$f"; cp -L "$f" "$r$f"; }
  done
  mkdir -p "$r/etc/ssl/certs"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  return 0
}
# ... and pip's package-index settings.
host_pip() {
  local r=$1 f tok p home_rel v
  # pip's configuration files, at the same place (the user's go to /root, HOME inside the root).
  local confs=() srcs=()
  for f in /etc/pip.conf /etc/xdg/pip/pip.conf "${PIP_CONFIG_FILE:-}"; do
    [ -n "$f" ] && [ -f "$f" ] && { confs+=("$f"); srcs+=("$f"); }
  done
  for home_rel in .pip/pip.conf .config/pip/pip.conf; do
    [ -f "$HOME/$home_rel" ] && { confs+=("/root/$home_rel"); srcs+=("$HOME/$home_rel"); }
  done
  local i
  for i in "${!confs[@]}"; do
    mkdir -p "$r$(dirname "${confs[$i]}")"
    cp -L "${srcs[$i]}" "$r${confs[$i]}"
  done
  # Local paths they name (cert files, file:// indexes, find-links directories): files are copied,
  # directories bind-mounted read-only at the same path.
  local vals=""
  [ "${#srcs[@]}" -gt 0 ] && vals=$(sed -e 's/^[^=]*=//' "${srcs[@]}")
  for v in $(compgen -e); do case "$v" in PIP_*) vals="$vals ${!v}" ;; esac; done
  for tok in $vals; do
    p=${tok#file://}
    p=${p%/}
    case "$p" in /*) ;; *) continue ;; esac
    # a file:// index (/x/simple) links to files beside it (/x/files): mount its parent
    case "$p" in */simple) p=$(dirname "$p") ;; esac
    if [ -f "$p" ]; then
      mkdir -p "$r$(dirname "$p")"; cp -L "$p" "$r$p"
    elif [ -d "$p" ] && ! mounted_under "$r$p"; then
      bind_ro "$p" "$r$p" || return 1
    fi
  done
}

build() {
  if [ -f "$ROOTFS/.hb-complete" ]; then say "root cached: $ROOTFS"; return 0; fi
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build.lock"
  flock -n 9 || { say "another build is running; waiting for $CACHE/.build.lock"; flock 9; }
  if [ -f "$ROOTFS/.hb-complete" ]; then say "root cached: $ROOTFS (built meanwhile)"; return 0; fi
  local d
  for d in "$CACHE"/.building-*; do [ -d "$d" ] && { say "removing an interrupted build $d"; safe_rm "$d" || return 1; }; done
  : "${MIRROR:=$(host_mirror)}"
  [ -n "$MIRROR" ] || { say "no Debian mirror found in the host's apt sources"; return 1; }
  BUILD_TMP=$(mktemp -d "$CACHE/.building-$SUITE-$KEY.XXXXXX")
  chmod 755 "$BUILD_TMP"
  local log="$CACHE/build-$SUITE-$KEY.log" t0 t
  t0=$(date +%s) t=$t0
  say "building the $SUITE root $ROOTFS from $MIRROR (a few minutes; log: $log)"
  say "debootstrap --variant=$VARIANT $SUITE ..."
  : >"$log"
  if ! child "$log" debootstrap --variant="$VARIANT" "$SUITE" "$BUILD_TMP" "$MIRROR"; then
    tail -n 30 "$log" >&2; say "debootstrap failed (log: $log)"; return 1
  fi
  say "debootstrap done ($(since "$t"))"
  printf '#!/bin/sh\nexit 101\n' >"$BUILD_TMP/usr/sbin/policy-rc.d" && chmod 755 "$BUILD_TMP/usr/sbin/policy-rc.d"
  host_net "$BUILD_TMP"
  mount_system "$BUILD_TMP" || return 1
  t=$(date +%s)
  say "apt-get install R, Seurat 5, Python 3 and build tools ..."
  # shellcheck disable=SC2086
  if ! child "$log" chroot "$BUILD_TMP" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
      sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $(echo $PACKAGES) && apt-get clean"; then
    tail -n 30 "$log" >&2; say "apt-get failed (log: $log)"; return 1
  fi
  say "apt-get done ($(since "$t"))"
  unmount_all  # before the rename
  printf 'recipe %s\nsuite %s\nvariant %s\npackages %s\nbuilt %s\n' "$RECIPE_VERSION" "$SUITE" "$VARIANT" \
    "$(echo $PACKAGES)" "$(date -u +%FT%TZ)" >"$BUILD_TMP/.hb-complete"
  mv -T "$BUILD_TMP" "$ROOTFS" || return 1
  BUILD_TMP=""
  # Older roots (other recipes) are dead weight (1-2 GB each).
  for d in "$CACHE/$SUITE"-*; do
    [ -d "$d" ] && [ "$d" != "$ROOTFS" ] || continue
    # not while a run uses it
    if ( exec 7>"$d.lock" && flock -n 7 && say "removing the outdated root $d" && safe_rm "$d" ); then rm -f "$d.lock" "$CACHE/build-${d##*/}.log"; fi
  done
  say "root built: $ROOTFS ($(since "$t0"))"
}

# Build if needed, mount, copy the working tree in, (re)create the venv, install the R half.
prepare() {
  build || exit 1
  exec 8>"$ROOTFS.lock"
  flock -n 8 || { say "another run uses $ROOTFS; waiting"; flock 8; }
  local t=$(date +%s)
  unmount_below "$ROOTFS"  # leftovers of a killed run (we hold the lock)
  mount_system "$ROOTFS" || exit 1
  host_net "$ROOTFS"
  host_pip "$ROOTFS" || exit 1
  # The working tree (tracked + untracked files, not the ignored ones such as .venv) ...
  safe_rm "$ROOTFS$IN_REPO" || exit 1
  mkdir -p "$ROOTFS$IN_REPO"
  if git -C "$REPO" rev-parse --show-toplevel >/dev/null 2>&1 && [ "$(git -C "$REPO" rev-parse --show-toplevel)" = "$REPO" ]; then
    git -C "$REPO" ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do if [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ]; then printf '%s\0' "$f"; fi; done \
      | tar -C "$REPO" --null -T - -cf - | tar -C "$ROOTFS$IN_REPO" -xf - || { say "copying the working tree failed"; exit 1; }
  else
    tar -C "$REPO" --exclude=.git --exclude=.venv --exclude=.setup-stamps --exclude=__pycache__ --exclude=.pytest_cache \
      --exclude=.hypothesis --exclude='*.egg-info' --exclude='*.Rcheck' --exclude=./out --exclude=./build --exclude=./dist \
      -cf - . | tar -C "$ROOTFS$IN_REPO" -xf - || { say "copying the working tree failed"; exit 1; }
  fi
  # ... and its ../shared sibling, read-only, so the data tests find <repo>/../shared/data there too.
  if [ -d "$REPO/../shared" ]; then
    bind_ro "$(cd "$REPO/../shared" && pwd)" "$ROOTFS$IN_SHARED" || exit 1
  else
    say "no $REPO/../shared here: data tests will skip"
  fi
  say "working tree copied to $IN_REPO in the root ($(since "$t"))"

  # The venv, rebuilt only when pyproject.toml (or the rpy2 spec / root) changes.
  local want; want=$( (cat "$REPO/pyproject.toml"; echo "$RPY2_SPEC $KEY") | sha1sum | cut -c1-12)
  [ "${HARMONYBRIDGE_TRIXIE_REINSTALL:-}" = 1 ] && rm -f "$ROOTFS$IN_VENV/.hb-stamp"
  if [ "$(cat "$ROOTFS$IN_VENV/.hb-stamp" 2>/dev/null)" != "$want" ]; then
    t=$(date +%s)
    say "creating the venv $IN_VENV (Python $(in_root python3 -c 'import platform; print(platform.python_version())')) and installing .[r,test] $RPY2_SPEC (a few minutes)"
    safe_rm "$ROOTFS$IN_VENV" || exit 1
    local log="$ROOTFS/var/log/hb-pip.log"
    : >"$log"
    if ! child "$log" chroot "$ROOTFS" /usr/bin/env -i "${ENVS[@]}" sh -c "cd $IN_REPO && python3 -m venv $IN_VENV && $IN_VENV/bin/python -m pip install -q --upgrade pip \
        && $IN_VENV/bin/python -m pip install -e '.[r,test,mudata]' '$RPY2_SPEC'"; then
      grep -v "is ignored: it is neither" "$log" | tail -n 30 >&2
      say "pip install failed (log: $log)"; exit 1
    fi
    echo "$want" >"$ROOTFS$IN_VENV/.hb-stamp"
    say "venv ready ($(since "$t"))"
  else
    say "venv cached ($IN_VENV, pyproject.toml unchanged)"
  fi

  # R harmony, once per root: local repositories named in HARMONYBRIDGE_R_REPOS are mounted at the same path.
  local repo repos=${HARMONYBRIDGE_R_REPOS:-}
  for repo in ${repos//,/ }; do
    repo=${repo#file://}
    case "$repo" in /*) if [ -d "$repo" ] && ! mounted_under "$ROOTFS$repo"; then bind_ro "$repo" "$ROOTFS$repo" || exit 1; fi ;; esac
  done
  in_root sh -c "cd $IN_REPO && Rscript scripts/install_rharmony.R $IN_SHARED/cran" >"$ROOTFS/var/log/hb-rharmony.log" 2>&1
  grep '^\[setup\]' "$ROOTFS/var/log/hb-rharmony.log" | sed 's/^\[setup\]/[trixie]/' >&2

  t=$(date +%s)
  if ! in_root sh -c "cd $IN_REPO && python -m harmonybridge._rbridge._install" >"$ROOTFS/var/log/hb-rpkg.log" 2>&1; then
    tail -n 30 "$ROOTFS/var/log/hb-rpkg.log" >&2; say "installing the R half from r/ failed"; exit 1
  fi
  say "$(tail -n 1 "$ROOTFS/var/log/hb-rpkg.log") ($(since "$t"))"
  say "stack: $(in_root sh -c "Rscript -e 'cat(R.version.string, \"| Seurat\", as.character(packageVersion(\"Seurat\")), \"| SeuratObject\", as.character(packageVersion(\"SeuratObject\")), \"| harmony\", if (requireNamespace(\"harmony\", quietly = TRUE)) as.character(packageVersion(\"harmony\")) else \"absent\")'" 2>/dev/null) | Python $(in_root python -c 'import platform; print(platform.python_version())')"
}

run_tests() {
  prepare
  local t=$(date +%s) py r
  say "pytest -q $* (in the root)"
  in_root sh -c 'cd "$0" && exec python -m pytest -q "$@"' "$IN_REPO" "$@"
  py=$?
  [ "$py" -eq 5 ] && say "pytest ran no test: that is a failure"
  say "pytest exit $py ($(since "$t"))"
  t=$(date +%s)
  say "R testthat (r/tests/testthat, in the root)"
  in_root sh -c 'cd "$0" && exec Rscript scripts/run_testthat.R' "$IN_REPO"
  r=$?
  say "R testthat exit $r ($(since "$t"))"
  if [ "$py" -ne 0 ] || [ "$r" -ne 0 ]; then
    say "FAILED on the Seurat-5 stack: pytest exit $py, R testthat exit $r (total $(since "$T0"))"
    exit 1
  fi
  say "passed on the Seurat-5 stack (total $(since "$T0"))"
}

cmd=${1:-test}
[ $# -gt 0 ] && shift
case "$cmd" in
  build) preflight; build || exit 1 ;;
  test) preflight; run_tests "$@" ;;
  run) preflight; prepare; in_root sh -c 'cd "$0" && exec "$@"' "$IN_REPO" "$@" ;;
  shell) preflight; prepare; in_root sh -c 'cd "$0" && exec bash -i' "$IN_REPO" ;;
  path) echo "$ROOTFS" ;;
  *) echo "usage: bash scripts/trixie.sh build | test [pytest args] | run CMD... | shell | path" >&2; exit 2 ;;
esac
