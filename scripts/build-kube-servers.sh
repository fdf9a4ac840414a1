#!/usr/bin/env bash
# Build the real Kubernetes API servers the tests and benchmarks run against, into
# ${K8S_ASSETS_KUBE_CACHE:-~/.cache/k8s-assets/kube}/<version>/ (kube-apiserver, etcd, BUILT):
#   - the current release, from Go modules (scripts/kube/build-modules.sh);
#   - the oldest release we support, from Debian's source package (scripts/kube/build-debian.sh).
# A finished build is reused at once; nothing prebuilt is downloaded (there is nowhere to get it
# from on our machines). Run from anywhere; CI runs it before the tests.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
started=$SECONDS
bash "$here/kube/build-modules.sh"
bash "$here/kube/build-debian.sh"
echo "build-kube-servers.sh: real API servers ready in $((SECONDS - started)) s"
