#!/usr/bin/env bash
# Build the OLDEST Kubernetes we support -- a real kube-apiserver v1.20.2 --
# from Debian's own source package, and provide etcd 3.4 from Debian's
# etcd-server package, into
#
#     ${K8S_ASSETS_KUBE_CACHE:-$HOME/.cache/k8s-assets/kube}/v1.20.2/
#         kube-apiserver   etcd   BUILT
#
# Why from source: the only network we (and CI) have is the package
# registries, so no upstream release binaries. Debian bullseye carried the
# Kubernetes 1.20 source (with vendor/) and bookworm still ships etcd 3.4.
#
# Contract (tests and CI call this):
#   * idempotent: if BUILT exists and matches this script + versions, print
#     "reusing ..." and exit 0 immediately;
#   * BUILT is written LAST, so an interrupted build is never reused;
#   * the source tree and the Go build cache live under the cache dir, so a
#     rebuild after a change to this script is incremental (seconds, not
#     minutes);
#   * runs as root on a fresh Debian 12 with Go installed; apt-installs what
#     it needs only when missing.
#
# Usage: bash scripts/kube/build-debian.sh
set -euo pipefail

# ---- pinned inputs -------------------------------------------------------
K8S_VERSION=1.20.2
# Debian had uploaded 1.20.5, then went back to 1.20.2 ("+really" convention).
DEB_SRC_VERSION='1.20.5+really1.20.2-1'
ORIG_TARBALL='kubernetes_1.20.5+really1.20.2.orig.tar.gz'
# Same sha256 as in bullseye's signed Sources index; pinned here too so a
# tarball left in the cache by anything else is never trusted blindly.
ORIG_SHA256='b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc'
# The commit the v1.20.2 release tarball was cut from (the tarball itself
# records it in component-base/version/base.go via git export-subst).
K8S_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
ETCD_MAJOR_MINOR=3.4
# kubernetes was dropped after bullseye, so its source only exists there.
DEB_SRC_SUITE=bullseye
APT_SRC_FILE=/etc/apt/sources.list.d/k8s-assets-kube-src.sources

CACHE_ROOT="${K8S_ASSETS_KUBE_CACHE:-$HOME/.cache/k8s-assets/kube}"
OUT="$CACHE_ROOT/v$K8S_VERSION"
STAMP="$OUT/BUILT"
WORK="$OUT/build"                       # persistent: sources + Go cache
GOPATH_DIR="$WORK/gopath"
KROOT="$GOPATH_DIR/src/k8s.io/kubernetes"

SCRIPT_PATH="$(readlink -f "${BASH_SOURCE[0]}")"

log() { printf '[build-debian] %s\n' "$*" >&2; }
die() { printf '[build-debian] ERROR: %s\n' "$*" >&2; exit 1; }

# The stamp's key: everything that, if changed, must trigger a rebuild.
# Only cheap things go in here, because it is computed on every reuse check.
# (The Go version is deliberately NOT part of the key: a newer Go on the
# machine does not make an already-working binary wrong.)
SCRIPT_SHA="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"
stamp_key() {
    printf 'kubernetes=v%s\ndebian-source=%s\netcd=%s\nscript-sha256=%s\n' \
        "$K8S_VERSION" "$DEB_SRC_VERSION" "$ETCD_MAJOR_MINOR" "$SCRIPT_SHA"
}
stamp_ok() {
    [[ -f "$STAMP" && -x "$OUT/kube-apiserver" && -x "$OUT/etcd" ]] &&
        [[ "$(grep -v '^#' "$STAMP")" == "$(stamp_key)" ]]
}

# ---- fast path: nothing to do --------------------------------------------
if stamp_ok; then
    echo "reusing kube-apiserver v$K8S_VERSION + etcd $ETCD_MAJOR_MINOR in $OUT"
    exit 0
fi

START=$SECONDS
mkdir -p "$OUT" "$WORK"

# Tests may run in parallel (pytest-xdist) and all call this script; only one
# may build, the others wait and then take the fast path.
exec 9>"$OUT/.lock"
if ! flock -n 9; then
    log "another build holds $OUT/.lock; waiting for it"
    flock 9
fi
if stamp_ok; then
    echo "reusing kube-apiserver v$K8S_VERSION + etcd $ETCD_MAJOR_MINOR in $OUT (built concurrently)"
    exit 0
fi
# Any stale stamp must go before we touch the outputs, so a build that dies
# half-way can never be mistaken for a good one.
rm -f "$STAMP"

command -v go >/dev/null || die "Go toolchain not found on PATH ('go'); install Go first"
[[ $(id -u) == 0 ]] || command -v sudo >/dev/null ||
    die "must run as root (needs apt-get for Debian packages)"
SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo

APT_UPDATED=false
apt_update_once() {
    $APT_UPDATED && return 0
    log "apt-get update"
    $SUDO apt-get update -qq || die "apt-get update failed"
    APT_UPDATED=true
}
pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

DL="$WORK/download"
mkdir -p "$DL"
tarball_ok() {
    [[ -f "$DL/$ORIG_TARBALL" ]] &&
        [[ "$(sha256sum "$DL/$ORIG_TARBALL" | cut -d' ' -f1)" == "$ORIG_SHA256" ]]
}
NEED_SOURCE=false
tarball_ok || NEED_SOURCE=true

# ---- 0. deb-src for bullseye (only if we still need the source) ----------
# apt-get source needs a deb-src line for the suite that still has the
# package. Add it in our own file (never edit the machine's sources), and
# only rewrite it if its content differs, so reruns are no-ops. Done before
# the package install so one apt-get update serves both.
if $NEED_SOURCE; then
    want_src=$(printf '%s\n' \
        '# Added by k8s-assets scripts/kube/build-debian.sh: Kubernetes 1.20' \
        '# source only exists in bullseye (it was dropped from bookworm).' \
        'Types: deb-src' \
        'URIs: http://deb.debian.org/debian' \
        "Suites: $DEB_SRC_SUITE" \
        'Components: main' \
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg')
    if [[ "$(cat "$APT_SRC_FILE" 2>/dev/null)" != "$want_src" ]]; then
        log "adding deb-src for $DEB_SRC_SUITE in $APT_SRC_FILE"
        printf '%s\n' "$want_src" | $SUDO tee "$APT_SRC_FILE" >/dev/null
        apt_update_once
    fi
fi

# ---- 1. Debian packages --------------------------------------------------
# golang-github-modern-go-reflect2-dev: reflect2 1.0.2 source, see step 4.
# etcd-server: etcd 3.4.23, the etcd line Kubernetes 1.20 was tested with.
# (No dpkg-dev: we only let apt *download* the source, see step 2, so
# dpkg-source is never run.)
NEED_PKGS=()
for p in golang-github-modern-go-reflect2-dev etcd-server; do
    pkg_installed "$p" || NEED_PKGS+=("$p")
done
if ((${#NEED_PKGS[@]})); then
    apt_update_once
    # etcd-server's postinst would start a system-wide etcd on :2379, which
    # would collide with the throw-away etcds our tests start. policy-rc.d
    # exit 101 forbids invoke-rc.d from starting anything during the install.
    # Respect an existing policy-rc.d (Docker images ship one); only add and
    # later remove our own.
    OWN_POLICY=false
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod 755 /usr/sbin/policy-rc.d
        OWN_POLICY=true
    fi
    log "apt-get install ${NEED_PKGS[*]} (log: $WORK/apt-install.log)"
    install_rc=0
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${NEED_PKGS[@]}" \
        >"$WORK/apt-install.log" 2>&1 || install_rc=$?
    $OWN_POLICY && $SUDO rm -f /usr/sbin/policy-rc.d
    if ((install_rc != 0)); then
        tail -n 30 "$WORK/apt-install.log" >&2
        die "apt-get install ${NEED_PKGS[*]} failed (rc=$install_rc), full log: $WORK/apt-install.log"
    fi
    # Belt and braces for systemd hosts: the unit got enabled by postinst even
    # if it was not started; keep it from coming up at the next boot.
    if [[ " ${NEED_PKGS[*]} " == *" etcd-server "* && -d /run/systemd/system ]]; then
        $SUDO systemctl disable --now etcd.service >/dev/null 2>&1 || true
    fi
fi

ETCD_BIN="$(command -v etcd || true)"
[[ -n "$ETCD_BIN" ]] || die "etcd-server installed but no 'etcd' on PATH"
ETCD_VER="$("$ETCD_BIN" --version | sed -n 's/^etcd Version: //p')"
[[ "$ETCD_VER" == "$ETCD_MAJOR_MINOR".* ]] ||
    die "Debian's etcd is '$ETCD_VER', expected $ETCD_MAJOR_MINOR.x"

REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
[[ -f "$REFLECT2_SRC/reflect2.go" ]] ||
    die "$REFLECT2_SRC missing although golang-github-modern-go-reflect2-dev is installed"

# ---- 2. the Kubernetes 1.20.2 source from bullseye -----------------------
if $NEED_SOURCE; then
    # apt-cache showsrc ignores "=version", so look for the Version line.
    # (Captured first: grep -q closing the pipe early would trip pipefail.)
    src_known() {
        local info
        info="$(apt-cache showsrc kubernetes 2>/dev/null || true)"
        grep -qxF "Version: $DEB_SRC_VERSION" <<<"$info"
    }
    src_known || apt_update_once      # lists may simply be stale
    src_known ||
        die "apt does not know source package kubernetes=$DEB_SRC_VERSION (deb-src $DEB_SRC_SUITE in $APT_SRC_FILE not usable?)"
    # --tar-only: we only need the upstream tree (it includes vendor/).
    # Debian's packaging (debian.tar.xz) builds just kubectl, and its .dsc and
    # debian.tar.xz are not reachable through every mirror (404 through the
    # registry proxy this project uses), while the orig tarball is. apt still
    # checks the tarball against the signed Sources index.
    # APT::Sandbox::User=root: the target dir is under root's home, which the
    # _apt download user cannot write; say so instead of getting a warning.
    log "apt-get source --tar-only kubernetes=$DEB_SRC_VERSION"
    rm -f "$DL/$ORIG_TARBALL"
    (cd "$DL" && apt-get source --tar-only --download-only -qq \
        -o APT::Sandbox::User=root "kubernetes=$DEB_SRC_VERSION" >&2) ||
        die "apt-get source kubernetes=$DEB_SRC_VERSION failed"
    tarball_ok || die "$DL/$ORIG_TARBALL has an unexpected sha256 (wanted $ORIG_SHA256)"
fi

# Extract once into a GOPATH layout: 1.20 builds in GOPATH mode
# (k8s.io/kubernetes/vendor/... import paths, staging via vendor symlinks).
# Extracting to a temp dir and renaming keeps a half-extracted tree from ever
# looking complete; keeping the tree keeps the generated openapi file and lets
# the Go cache make rebuilds incremental.
if [[ ! -f "$KROOT/.k8s-assets-extracted-$ORIG_SHA256" ]]; then
    log "extracting $ORIG_TARBALL"
    rm -rf "$KROOT" "$KROOT.tmp"
    mkdir -p "$KROOT.tmp"
    tar -xzf "$DL/$ORIG_TARBALL" -C "$KROOT.tmp" --strip-components=1
    touch "$KROOT.tmp/.k8s-assets-extracted-$ORIG_SHA256"
    mv "$KROOT.tmp" "$KROOT"
fi

# ---- 3. Go environment ---------------------------------------------------
export GOPATH="$GOPATH_DIR"
export GO111MODULE=off          # 1.20's vendor/ is only consistent in GOPATH mode
export GOCACHE="$WORK/gocache"  # persistent => incremental rebuilds
export GOFLAGS=                 # a user's -mod=... would break GOPATH mode
export GOTOOLCHAIN=local        # never try to download a toolchain
export CGO_ENABLED=0            # upstream ships kube-apiserver static, too
unset GOROOT_FINAL GOBIN
GO_VER="$(go env GOVERSION)"
log "using $GO_VER (GOPATH mode) in $KROOT"

# ---- 4. reflect2 1.0.1 -> 1.0.2 ------------------------------------------
# The vendored github.com/modern-go/reflect2 1.0.1 mirrors runtime-internal
# map structures that changed in Go 1.18: it compiles, but json-iterator (used
# all over client-go/apiserver) crashes at run time. 1.0.2 is the upstream fix
# and API-compatible; Debian packages it, so swap it in. Done every build
# (cheap, idempotent), so the tree never silently keeps 1.0.1.
R2="$KROOT/vendor/github.com/modern-go/reflect2"
rm -rf "$R2"
mkdir -p "$R2"
cp -a "$REFLECT2_SRC/." "$R2/"

# ---- 5. generate pkg/generated/openapi/zz_generated.openapi.go -----------
# The release tarball does not contain it (only the staging ones), and
# kube-apiserver does not compile without it. Reproduce Makefile.generated_files'
# KUBE openapi target: every Go dir (staging named as vendor/, like
# hack/make-rules/helpers/cache_go_dirs.sh) with a '+k8s:openapi-gen=' tag,
# minus code-generator and sample-apiserver.
OPENAPI_OUT="$KROOT/pkg/generated/openapi/zz_generated.openapi.go"
OPENAPI_DONE="$KROOT/.k8s-assets-openapi-generated"
if [[ ! -f "$OPENAPI_DONE" || ! -f "$OPENAPI_OUT" ]]; then
    log "building openapi-gen (vendored kube-openapi)"
    mkdir -p "$WORK/bin"
    (cd "$KROOT" && go build -o "$WORK/bin/openapi-gen" \
        k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen) ||
        die "building openapi-gen failed"
    log "finding +k8s:openapi-gen packages"
    # grep the real paths (staging/...) and only then rename them to vendor/
    # import paths; xargs keeps it to a handful of grep processes.
    input_dirs=$(cd "$KROOT" &&
        { find -H . -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) \
              -type f -name '*.go' -print0 |
          xargs -0 grep -l -E '^// *\+k8s:' |
          xargs grep -l -e '+k8s:openapi-gen=' || true; } |
        sed 's|^\./staging/src|vendor|; s|^\./||' |
        grep -v -E '^vendor/k8s\.io/(code-generator|sample-apiserver)/' |
        sed 's|/[^/]*$||' | LC_ALL=C sort -u |
        sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
    [[ -n "$input_dirs" ]] || die "found no +k8s:openapi-gen packages (source tree broken?)"
    log "running openapi-gen over $(tr ',' '\n' <<<"$input_dirs" | wc -l) packages"
    rm -f "$OPENAPI_DONE"
    # The API-rule violation report is a lint for upstream's API reviews; we
    # only use it as a cross-check of the input set (below), never to fail.
    (cd "$KROOT" && "$WORK/bin/openapi-gen" \
        --logtostderr \
        --input-dirs "$input_dirs" \
        --output-package k8s.io/kubernetes/pkg/generated/openapi \
        -O zz_generated.openapi \
        --go-header-file vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
        --report-filename "$WORK/openapi-violations.report" >&2) ||
        die "openapi-gen failed"
    [[ -s "$OPENAPI_OUT" ]] || die "openapi-gen produced no $OPENAPI_OUT"
    # Upstream's checked-in list of known violations is a free cross-check
    # that we fed openapi-gen the same package set upstream's Makefile did.
    if ! cmp -s <(LC_ALL=C sort "$WORK/openapi-violations.report") \
                <(LC_ALL=C sort "$KROOT/api/api-rules/violation_exceptions.list"); then
        log "WARNING: openapi-gen's violation report differs from upstream's" \
            "api/api-rules/violation_exceptions.list: package set may differ from upstream"
    fi
    touch "$OPENAPI_DONE"
fi

# ---- 6. build kube-apiserver ---------------------------------------------
# Version ldflags as hack/lib/version.sh sets them, so /version says v1.20.2
# (clients and our tests key behaviour on it). In GOPATH mode the packages
# are reached through the k8s.io/kubernetes/vendor/ prefix.
# buildDate: the release's own file dates (tar keeps them), not "now" or the
# download time, so the same inputs give the same binary.
BUILD_DATE="$(date -u -d @"$(stat -c %Y "$KROOT/go.mod")" +%Y-%m-%dT%H:%M:%SZ)"
LDFLAGS="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
           k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
    LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION"
    LDFLAGS+=" -X $pkg.gitMajor=${K8S_VERSION%%.*}"
    LDFLAGS+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION")"
    LDFLAGS+=" -X $pkg.gitCommit=$K8S_GIT_COMMIT"
    LDFLAGS+=" -X $pkg.gitTreeState=archive"
    LDFLAGS+=" -X $pkg.buildDate=$BUILD_DATE"
done
log "building kube-apiserver v$K8S_VERSION (several minutes from cold, seconds when cached)"
(cd "$KROOT" && go build -trimpath -ldflags "$LDFLAGS" \
    -o "$OUT/kube-apiserver.tmp" ./cmd/kube-apiserver) ||
    die "go build ./cmd/kube-apiserver failed (see above)"
# Catch a wrong ldflag path (silently ignored by the linker) right here.
got="$("$OUT/kube-apiserver.tmp" --version)"
[[ "$got" == "Kubernetes v$K8S_VERSION" ]] ||
    die "built kube-apiserver reports '$got', expected 'Kubernetes v$K8S_VERSION'"
mv -f "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"

# ---- 7. etcd: a copy, so the cache dir is self-contained ------------------
cp -f "$ETCD_BIN" "$OUT/etcd.tmp"
mv -f "$OUT/etcd.tmp" "$OUT/etcd"

# ---- 8. stamp, LAST -------------------------------------------------------
{
    stamp_key
    echo "# etcd-version=$ETCD_VER ($(dpkg-query -W -f='${Version}' etcd-server))"
    echo "# go=$GO_VER"
    echo "# built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - START))s"
} >"$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"

log "built kube-apiserver v$K8S_VERSION ($(du -h "$OUT/kube-apiserver" | cut -f1)) + etcd $ETCD_VER in $OUT"
echo "build took $((SECONDS - START))s"
