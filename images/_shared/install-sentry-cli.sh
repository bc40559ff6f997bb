#!/bin/sh
# Build stage helper: downloads the pinned sentry-cli release for the image's architecture and
# refuses it unless its SHA-256 matches the pinned checksum. sentry-cli's Linux builds are static
# (musl), so they run on Alpine as they are.
#
# Inputs (environment): SENTRY_CLI_VERSION, SENTRY_CLI_SHA256_AMD64, SENTRY_CLI_SHA256_ARM64,
# TARGETARCH (amd64 or arm64), OUT_DIR (default /out). Output: $OUT_DIR/sentry-cli.
set -eu

: "${SENTRY_CLI_VERSION:?SENTRY_CLI_VERSION is required}"
: "${TARGETARCH:?TARGETARCH is required (docker buildx sets it)}"

case "$TARGETARCH" in
  amd64)
    arch="x86_64"
    expected="${SENTRY_CLI_SHA256_AMD64:?SENTRY_CLI_SHA256_AMD64 is required}"
    ;;
  arm64)
    arch="aarch64"
    expected="${SENTRY_CLI_SHA256_ARM64:?SENTRY_CLI_SHA256_ARM64 is required}"
    ;;
  *)
    echo "install-sentry-cli: unsupported TARGETARCH \"$TARGETARCH\" (amd64 or arm64)" >&2
    exit 1
    ;;
esac

asset="sentry-cli-Linux-${arch}"
out="${OUT_DIR:-/out}"
work="$(mktemp -d)"
cd "$work"
curl --fail --silent --show-error --location --retry 3 --output "$asset" \
  "https://downloads.sentry-cdn.com/sentry-cli/${SENTRY_CLI_VERSION}/${asset}"
echo "$expected  $asset" | sha256sum -c -
chmod 755 "$asset"
mkdir -p "$out"
mv "$asset" "$out/sentry-cli"
cd /
rm -rf "$work"
