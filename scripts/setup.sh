#!/usr/bin/env bash
# Sets up everything objfs needs on a fresh Debian/Ubuntu machine: system packages (fuse3,
# libfuse3 headers, a C toolchain for the native addon), npm dependencies from the lockfile, the
# native addon and the TypeScript build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
pkg-config --exists fuse3 >/dev/null 2>&1 || need+=(libfuse3-dev pkg-config)
command -v g++ >/dev/null 2>&1 || need+=(g++ make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v setfattr >/dev/null 2>&1 || need+=(attr)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v git >/dev/null 2>&1 || need+=(git)
command -v tar >/dev/null 2>&1 || need+=(tar)
{ command -v vim >/dev/null 2>&1 || command -v vim.tiny >/dev/null 2>&1; } || need+=(vim-tiny)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -e /dev/fuse ] || echo "setup: warning: /dev/fuse is missing; mounting will not work on this machine" >&2

echo "setup: npm dependencies"
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "setup: MinIO (the real S3 server the tests start on loopback)"
bash scripts/install-minio.sh
echo "setup: native addon"
node scripts/build-native.mjs
echo "setup: TypeScript"
npx tsc -p tsconfig.json
echo "setup: ready"
