#!/bin/sh
# Build stage helper: fetches denort (the runtime `deno compile` embeds the program into) for the
# image's architecture, verifies it, and points it at the glibc the runtime stage keeps in
# /usr/local/lib/glibc. The patched runtime is then handed to `deno compile` through DENORT_BIN.
#
# The runtime is patched *before* compiling on purpose: `deno compile` appends the program to the
# end of the binary, and rewriting a compiled binary with patchelf would break that trailer.
#
# Inputs (environment): DENO_VERSION, TARGETARCH (amd64 or arm64), DENORT_SHA256_AMD64 and
# DENORT_SHA256_ARM64 (optional: pin a checksum instead of using the release's .sha256sum file),
# GLIBC_DIR, OUT_DIR (default /out). Output: $OUT_DIR/denort and $OUT_DIR/target (the target
# triple to compile for).
set -eu

: "${DENO_VERSION:?DENO_VERSION is required}"
: "${TARGETARCH:?TARGETARCH is required (docker buildx sets it)}"
glibc_dir="${GLIBC_DIR:-/usr/local/lib/glibc}"
out="${OUT_DIR:-/out}"

case "$TARGETARCH" in
  amd64)
    target="x86_64-unknown-linux-gnu"
    loader="ld-linux-x86-64.so.2"
    pinned="${DENORT_SHA256_AMD64:-}"
    ;;
  arm64)
    target="aarch64-unknown-linux-gnu"
    loader="ld-linux-aarch64.so.1"
    pinned="${DENORT_SHA256_ARM64:-}"
    ;;
  *)
    echo "fetch-denort: unsupported TARGETARCH \"$TARGETARCH\" (amd64 or arm64)" >&2
    exit 1
    ;;
esac

zip="denort-${target}.zip"
url="https://github.com/denoland/deno/releases/download/v${DENO_VERSION}/${zip}"
work="$(mktemp -d)"
cd "$work"
curl --fail --silent --show-error --location --retry 3 --output "$zip" "$url"
if [ -n "$pinned" ]; then
  expected="$pinned"
else
  curl --fail --silent --show-error --location --retry 3 --output "$zip.sha256sum" "$url.sha256sum"
  expected="$(grep -Eo '[0-9a-fA-F]{64}' "$zip.sha256sum" | head -n 1 | tr 'A-F' 'a-f')"
fi
[ -n "$expected" ] || {
  echo "fetch-denort: no checksum for $zip" >&2
  exit 1
}
echo "$expected  $zip" | sha256sum -c -

unzip -q "$zip" denort
# The interpreter and the library path both point into glibc_dir, so the binary never sees
# Alpine's musl libraries and nothing else in the image sees glibc.
patchelf --set-interpreter "$glibc_dir/$loader" --set-rpath "$glibc_dir" denort

mkdir -p "$out"
mv denort "$out/denort"
echo "$target" >"$out/target"
cd /
rm -rf "$work"
