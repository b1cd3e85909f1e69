#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries the given binaries
# load, one per line: the runtime stage of the Dockerfile installs exactly these.
#   deploy/docker/runtime-packages.sh build/bin/ingest build/bin/admin ...
set -euo pipefail
(( $# )) || { echo "usage: $0 BINARY..." >&2; exit 2; }

libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
missing=$(ldd "$@" | awk '/not found/ {print $1}' | sort -u)
[[ -z $missing ]] || { echo "runtime-packages: unresolved libraries: $missing" >&2; exit 1; }

for lib in $libs; do
  real=$(readlink -f "$lib")
  found=""
  # usrmerge: dpkg may know the file under /lib or /usr/lib, by its link or its target.
  for p in "$lib" "$real" "/usr${lib#/usr}" "/usr${real#/usr}" "${lib#/usr}" "${real#/usr}"; do
    if out=$(dpkg -S "$p" 2>/dev/null); then found=${out%%:*}; break; fi
  done
  [[ -n $found ]] || { echo "runtime-packages: no package owns $lib" >&2; exit 1; }
  echo "$found"
done | sort -u
