#!/usr/bin/env bash
# Build a real upstream kube-apiserver + etcd from Go modules (no GitHub, no
# dl.k8s.io: only the Go module proxy is reachable from CI and dev boxes).
#
# Output: ${K8S_ASSETS_KUBE_CACHE:-$HOME/.cache/k8s-assets/kube}/<k8s version>/
#           kube-apiserver  etcd  BUILT
#
# BUILT is written LAST and holds the versions, the Go version and a hash of
# this script; it is the only thing that marks the directory as usable, so an
# interrupted build is never mistaken for a finished one.  When it matches we
# exit immediately ("reusing ...") -- the test suite calls this script on every
# run, so the fast path must not touch the go command's module machinery.
#
# Environment knobs (all optional):
#   K8S_ASSETS_KUBE_CACHE   cache root (default ~/.cache/k8s-assets/kube)
#   K8S_VERSION             default v1.37.2 (v1.36.3: intended fallback; its module
#                           zip also ships zz_generated.openapi.go, build untested)
#   ETCD_VERSION            default v3.6.16
#   GO_BUILD_PARALLELISM    go build -p (default: number of CPUs, max 4)
#
# Usage: bash scripts/kube/build-modules.sh
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE_ROOT="${K8S_ASSETS_KUBE_CACHE:-$HOME/.cache/k8s-assets/kube}"
OUT_DIR="${CACHE_ROOT}/${K8S_VERSION}"
STAMP="${OUT_DIR}/BUILT"

die() { echo "build-modules.sh: ERROR: $*" >&2; exit 1; }
log() { echo "build-modules.sh: $*" >&2; }

[[ "$K8S_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] \
  || die "K8S_VERSION must look like v1.37.2 (got '$K8S_VERSION')"
K8S_MINOR="${BASH_REMATCH[1]}"
K8S_PATCH="${BASH_REMATCH[2]}"
# The staging repos (k8s.io/api, apiserver, ...) are published with the same
# minor/patch but major 0: kubernetes v1.37.2 <=> k8s.io/api v0.37.2.
STAGING_VERSION="v0.${K8S_MINOR}.${K8S_PATCH}"
[[ "$ETCD_VERSION" =~ ^v3\.[0-9]+\.[0-9]+$ ]] \
  || die "ETCD_VERSION must look like v3.6.16 (got '$ETCD_VERSION')"

command -v go >/dev/null 2>&1 || die "the 'go' command is not on PATH"

# Print the (read-only) module-cache directory of module@version, fetching it
# from GOPROXY if needed.  `go mod download -json` reports failures inside the
# JSON ("Error"), so surface that text instead of a bare exit status.
module_dir() {
  local json dir err
  if ! json="$(GOFLAGS= go mod download -json "$1" 2>&1)"; then
    err="$(sed -n 's/^[[:space:]]*"Error": "\(.*\)"$/\1/p' <<<"$json" | head -1)"
    die "could not download $1 from GOPROXY=$(go env GOPROXY): ${err:-$json}"
  fi
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")"
  [[ -d "$dir" ]] || die "'go mod download -json $1' reported no module directory:
$json"
  printf '%s\n' "$dir"
}

# Hash of this script: changing the build recipe must invalidate old builds.
SCRIPT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
SCRIPT_SHA="$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)"
# `go env GOVERSION` is cheap (no module loading) and a Go upgrade can change
# the binaries (and the stdlib's TLS/HTTP behaviour), so it is part of the key.
GO_VERSION="$(go env GOVERSION)"

expected_stamp() {
  printf 'kubernetes=%s\netcd=%s\ngo=%s\nscript_sha256=%s\n' \
    "$K8S_VERSION" "$ETCD_VERSION" "$GO_VERSION" "$SCRIPT_SHA"
}

stamp_ok() {
  [[ -f "$STAMP" && -x "$OUT_DIR/kube-apiserver" && -x "$OUT_DIR/etcd" ]] \
    && [[ "$(cat "$STAMP")" == "$(expected_stamp)" ]]
}

if stamp_ok; then
  echo "reusing $OUT_DIR (kube-apiserver $K8S_VERSION, etcd $ETCD_VERSION)"
  exit 0
fi

mkdir -p "$OUT_DIR" "$CACHE_ROOT/work"
# Serialise concurrent callers (e.g. parallel test workers): two `go build`s
# of kube-apiserver on 2 cores would each take twice as long and race on the
# output files.  The second caller re-checks the stamp after the lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.build.lock"
  flock 9
  if stamp_ok; then
    echo "reusing $OUT_DIR (built by a concurrent run)"
    exit 0
  fi
fi

START=$(date +%s)
# Invalidate first: from here on the directory is "under construction".
rm -f "$STAMP"

# -mod=mod: our generated go.mod has no pre-made go.sum; let the go command
#   record checksums (verified against sum.golang.org via the proxy).
# GOWORK=off: never let a stray go.work above the cache dir take part.
# -trimpath: reproducible binaries independent of the cache location.
# The Go build cache (go env GOCACHE) is deliberately left alone, so a rebuild
# after a script edit only relinks (~1-2 min instead of ~20+).
export GOWORK=off
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
# Static binaries like upstream releases (no glibc dependency in CI images).
# NB: CGO_ENABLED is part of every package's build-cache key -- flipping it
# costs a full cold rebuild, so do not toggle it casually.
export CGO_ENABLED=0
NCPU="$(nproc 2>/dev/null || echo 2)"
PAR="${GO_BUILD_PARALLELISM:-$(( NCPU > 4 ? 4 : NCPU ))}"

# ---------------------------------------------------------------------------
# kube-apiserver
# ---------------------------------------------------------------------------
# k8s.io/kubernetes is published on the proxy, but its go.mod requires every
# staging module at the fake version v0.0.0 with `replace => ./staging/...`,
# and the module zip does not contain staging/ (those dirs are separate
# modules).  Replace directives of a dependency are ignored, so we build from a
# tiny wrapper module that depends on k8s.io/kubernetes and re-points each of
# those v0.0.0 requirements at the published staging release.  Because the
# wrapper adds no other requirements, MVS selects exactly the third-party
# versions pinned by upstream's go.mod (checked: identical for v1.37.2).
K8S_WORK="$CACHE_ROOT/work/kube-apiserver-$K8S_VERSION"
mkdir -p "$K8S_WORK"
log "downloading k8s.io/kubernetes@$K8S_VERSION (module proxy)"
K8S_MOD_DIR="$(cd "$K8S_WORK" && module_dir "k8s.io/kubernetes@$K8S_VERSION")" || exit 1

# The generated OpenAPI definitions are committed upstream (and present in the
# v1.36/v1.37 module zips).  Without them the build dies late with
# "undefined: generatedopenapi.GetOpenAPIDefinitions"; fail early and clearly.
[[ -s "$K8S_MOD_DIR/pkg/generated/openapi/zz_generated.openapi.go" ]] \
  || die "k8s.io/kubernetes@$K8S_VERSION module lacks pkg/generated/openapi/zz_generated.openapi.go; this script does not run openapi-gen"

# Derive the replace list from upstream's own go.mod instead of hard-coding
# it: every k8s.io/* required at v0.0.0 is a staging module.  (Some replace
# targets, e.g. sample-controller, are not required and not all are published,
# so the require block -- not the replace block -- is the right source.)
STAGING_MODS="$(awk '
  /^require[[:space:]]*\(/ { inreq = 1; next }
  inreq && /^\)/           { inreq = 0 }
  inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }
' "$K8S_MOD_DIR/go.mod")"
[[ -n "$STAGING_MODS" ]] || die "found no v0.0.0 staging requirements in k8s.io/kubernetes@$K8S_VERSION go.mod"
# Mirror upstream's language version + godebug defaults: they are taken from
# the MAIN module, i.e. our wrapper, and change runtime behaviour.
GO_LINE="$(grep -m1 '^go ' "$K8S_MOD_DIR/go.mod")"
GODEBUG_LINE="$(grep -m1 '^godebug ' "$K8S_MOD_DIR/go.mod" || true)"
{
  echo "// Generated by scripts/kube/build-modules.sh -- do not edit."
  echo "module k8s-assets.local/kube-apiserver-build"
  echo
  echo "$GO_LINE"
  [[ -n "$GODEBUG_LINE" ]] && { echo; echo "$GODEBUG_LINE"; }
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  for m in $STAGING_MODS; do echo "	$m => $m $STAGING_VERSION"; done
  echo ")"
} > "$K8S_WORK/go.mod.new"
# Only rewrite go.mod when it changed, and drop go.sum with it, so stale
# checksum lines of an older version never accumulate.
if ! cmp -s "$K8S_WORK/go.mod.new" "$K8S_WORK/go.mod" 2>/dev/null; then
  mv "$K8S_WORK/go.mod.new" "$K8S_WORK/go.mod"
  rm -f "$K8S_WORK/go.sum"
else
  rm -f "$K8S_WORK/go.mod.new"
fi

# buildDate: the module's publication time from the proxy's .info file --
# deterministic (same bits on every machine) yet meaningful, unlike `date`.
K8S_INFO="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.info"
BUILD_DATE="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$K8S_INFO" 2>/dev/null || true)"
BUILD_DATE="${BUILD_DATE:-1970-01-01T00:00:00Z}"

# Version stamping exactly like hack/lib/version.sh: both packages carry the
# variables (client-go's is what kubectl-style clients report, component-base's
# is what the server's /version and its emulation/compatibility version use).
# Without this /version says v0.0.0-master and the binary-version checks pick
# a hard-coded default.
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
done

log "building kube-apiserver $K8S_VERSION (go build -p $PAR; cold: ~25 min on 2 cores, warm Go build cache: ~15 s)"
(
  cd "$K8S_WORK"
  go build -p "$PAR" -trimpath -ldflags "$LDFLAGS" \
    -o "$OUT_DIR/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
) || die "go build of kube-apiserver $K8S_VERSION failed (see output above)"
mv -f "$OUT_DIR/kube-apiserver.tmp" "$OUT_DIR/kube-apiserver"

# ---------------------------------------------------------------------------
# etcd
# ---------------------------------------------------------------------------
# The root module go.etcd.io/etcd/v3 is not served for recent 3.6 patches, but
# go.etcd.io/etcd/server/v3 is, and its root package is the etcd `main`
# (etcdmain.Main).  It gets its own wrapper module: etcd 3.6 pins different
# grpc/otel versions than kube-apiserver 1.37 (which uses the 3.7 client), so
# sharing a module would silently change etcd's dependencies.
ETCD_WORK="$CACHE_ROOT/work/etcd-$ETCD_VERSION"
mkdir -p "$ETCD_WORK"
log "downloading go.etcd.io/etcd/server/v3@$ETCD_VERSION (module proxy)"
ETCD_MOD_DIR="$(cd "$ETCD_WORK" && module_dir "go.etcd.io/etcd/server/v3@$ETCD_VERSION")" || exit 1
[[ -f "$ETCD_MOD_DIR/main.go" ]] || die "go.etcd.io/etcd/server/v3@$ETCD_VERSION has no root main package"
# The main module's `go` line picks the binary's default GODEBUG settings;
# use etcd's own so the binary behaves like upstream's.
ETCD_GO_LINE="$(grep -m1 '^go ' "$ETCD_MOD_DIR/go.mod")"
{
  echo "// Generated by scripts/kube/build-modules.sh -- do not edit."
  echo "module k8s-assets.local/etcd-build"
  echo
  echo "$ETCD_GO_LINE"
  echo
  echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
} > "$ETCD_WORK/go.mod.new"
if ! cmp -s "$ETCD_WORK/go.mod.new" "$ETCD_WORK/go.mod" 2>/dev/null; then
  mv "$ETCD_WORK/go.mod.new" "$ETCD_WORK/go.mod"
  rm -f "$ETCD_WORK/go.sum"
else
  rm -f "$ETCD_WORK/go.mod.new"
fi
log "building etcd $ETCD_VERSION"
(
  cd "$ETCD_WORK"
  go build -p "$PAR" -trimpath -ldflags "-s -w" \
    -o "$OUT_DIR/etcd.tmp" go.etcd.io/etcd/server/v3
) || die "go build of etcd $ETCD_VERSION failed (see output above)"
mv -f "$OUT_DIR/etcd.tmp" "$OUT_DIR/etcd"

# ---------------------------------------------------------------------------
# Sanity check, then the stamp (last!)
# ---------------------------------------------------------------------------
"$OUT_DIR/kube-apiserver" --version | grep -qx "Kubernetes $K8S_VERSION" \
  || die "built kube-apiserver reports '$("$OUT_DIR/kube-apiserver" --version)', expected Kubernetes $K8S_VERSION"
"$OUT_DIR/etcd" --version | grep -q "etcd Version: ${ETCD_VERSION#v}" \
  || die "built etcd reports '$("$OUT_DIR/etcd" --version | head -1)', expected ${ETCD_VERSION#v}"

expected_stamp > "$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
END=$(date +%s)
echo "built kube-apiserver $K8S_VERSION and etcd $ETCD_VERSION into $OUT_DIR in $(( END - START ))s"
