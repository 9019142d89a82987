#!/usr/bin/env bash
# Installs the MinIO server the S3 tests run against (test/helpers/minio.ts), built from the Go
# module proxy at a pinned version. Idempotent: does nothing when `minio` is already on PATH or in
# "$(go env GOPATH)/bin". The first build takes a few minutes; it needs Go (>= 1.24).
set -euo pipefail

MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

if command -v minio >/dev/null 2>&1; then
  exit 0
fi
# Go's default GOPATH, checked before asking go (a binary built earlier works without Go).
if [ -x "${GOPATH:-$HOME/go}/bin/minio" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-minio: Go is not installed (needed to build MinIO for the S3 tests); install Go >= 1.24 or put a minio binary on PATH" >&2
  exit 1
fi
GOBIN_DIR="$(go env GOBIN)"
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH)/bin"
if [ -x "$(go env GOPATH)/bin/minio" ] || [ -x "$GOBIN_DIR/minio" ]; then
  exit 0
fi
echo "install-minio: building ${MINIO_MODULE}@${MINIO_VERSION} with go install (a few minutes the first time)"
go install "${MINIO_MODULE}@${MINIO_VERSION}"
