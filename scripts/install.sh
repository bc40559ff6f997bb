#!/bin/sh
# Installs the `deploy` binary from a GitHub release, after checking it against the release's
# SHA256SUMS. POSIX sh, so it runs under dash, busybox ash and macOS /bin/sh alike.
#
#   curl -fsSL https://github.com/OWNER/deploy/releases/latest/download/install.sh | sh
#
# The released copy (a release asset, and the file at a release tag) names the project's real
# releases page: scripts/stamp.ts writes it in when a release is made.
#
# Settings (environment variables):
#   DEPLOY_VERSION           release to install, "1.2.3" or "v1.2.3" (default: the latest release)
#   DEPLOY_INSTALL_DIR       where `deploy` goes (default: ~/.local/bin)
#   DEPLOY_INSTALL_BASE_URL  the releases page (default: the project's GitHub releases). GitHub's
#                            layout (<base>/download/<tag>/<asset>) or, for a base ending in
#                            /-/releases, GitLab's (<base>/<tag>/downloads/<asset>)
#   DEPLOY_INSTALL_TARGET    asset target to fetch instead of the detected one, for example
#                            aarch64-unknown-linux-gnu
#
# Exit codes: 0 installed, 1 failed (download, checksum mismatch), 2 unsupported system or bad setting.

set -eu

releases_url="https://github.com/OWNER/deploy/releases"
base_url="${DEPLOY_INSTALL_BASE_URL:-$releases_url}"
base_url="${base_url%/}"
install_dir="${DEPLOY_INSTALL_DIR:-${HOME:?HOME is not set; set DEPLOY_INSTALL_DIR}/.local/bin}"
version="${DEPLOY_VERSION:-latest}"

say() { printf 'deploy-install: %s\n' "$*" >&2; }
die() {
  code="$1"
  shift
  say "error: $*"
  exit "$code"
}

# The Rust-style target triple that names the release asset for this machine.
detect_target() {
  os="$(uname -s)"
  arch="$(uname -m)"
  case "$arch" in
    x86_64 | amd64) arch="x86_64" ;;
    aarch64 | arm64) arch="aarch64" ;;
    *) die 2 "unsupported CPU architecture \"$arch\": releases exist for x86_64 and aarch64" ;;
  esac
  case "$os" in
    Linux)
      # Release binaries link against glibc; on musl (Alpine) use the container images instead.
      if ls /lib/ld-musl-* >/dev/null 2>&1 && ! ls /lib*/ld-linux-* >/dev/null 2>&1; then
        say "warning: this system uses musl libc; the binary needs glibc (on Alpine, use the deploy images)"
      fi
      echo "${arch}-unknown-linux-gnu"
      ;;
    Darwin) echo "${arch}-apple-darwin" ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      [ "$arch" = "x86_64" ] || die 2 "unsupported system \"$os $arch\": Windows releases exist for x86_64 only"
      echo "x86_64-pc-windows-msvc"
      ;;
    *) die 2 "unsupported operating system \"$os\": releases exist for Linux, macOS and Windows" ;;
  esac
}

# Downloads $1 to the file $2 with curl, or wget when curl is missing.
download() {
  if command -v curl >/dev/null 2>&1; then
    curl --fail --silent --show-error --location --retry 3 --output "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget --quiet --tries=3 --output-document="$2" "$1"
  else
    die 2 "neither curl nor wget is installed"
  fi
}

# Prints the SHA-256 of the file $1 in lowercase hex.
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{ print tolower($1) }'
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | awk '{ print tolower($1) }'
  else
    die 2 "neither sha256sum nor shasum is installed, so the download cannot be verified"
  fi
}

# Downloads are only trusted over HTTPS; plain HTTP is allowed for loopback mirrors (tests).
case "$base_url" in
  https://* | http://127.0.0.1:* | http://127.0.0.1/* | http://localhost:* | http://localhost/*) ;;
  *) die 2 "DEPLOY_INSTALL_BASE_URL \"$base_url\" must start with https://" ;;
esac

target="${DEPLOY_INSTALL_TARGET:-$(detect_target)}"
case "$target" in
  x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu | x86_64-apple-darwin | aarch64-apple-darwin)
    asset="deploy-${target}"
    binary="deploy"
    ;;
  x86_64-pc-windows-msvc)
    asset="deploy-${target}.exe"
    binary="deploy.exe"
    ;;
  *) die 2 "unknown target \"$target\"" ;;
esac

case "$version" in
  *[!0-9A-Za-z.+-]*) die 2 "DEPLOY_VERSION \"$version\" is not a version such as 1.2.3" ;;
  latest) tag="" ;;
  v[0-9]*) tag="$version" ;;
  [0-9]*) tag="v$version" ;;
  *) die 2 "DEPLOY_VERSION \"$version\" is not a version such as 1.2.3" ;;
esac
case "$base_url" in
  # GitLab: <project>/-/releases/<tag>/downloads/<file> and .../permalink/latest/downloads/<file>
  */-/releases) release_url="${base_url}/${tag:-permalink/latest}/downloads" ;;
  # GitHub: <repo>/releases/download/<tag>/<file> and .../latest/download/<file>
  *) if [ -n "$tag" ]; then release_url="${base_url}/download/${tag}"; else release_url="${base_url}/latest/download"; fi ;;
esac

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t deploy-install)"
partial=""
trap 'rm -rf "$tmp" ${partial:+"$partial"}' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "downloading ${asset} (${version})"
download "${release_url}/${asset}" "$tmp/$asset" || die 1 "cannot download ${release_url}/${asset}"
download "${release_url}/SHA256SUMS" "$tmp/SHA256SUMS" || die 1 "cannot download ${release_url}/SHA256SUMS"

# sha256sum marks binary-mode entries with "*" before the name; accept both forms.
expected="$(awk -v name="$asset" '$2 == name || $2 == "*" name { print tolower($1); exit }' "$tmp/SHA256SUMS")"
[ -n "$expected" ] || die 1 "SHA256SUMS has no entry for ${asset}; refusing to install"
actual="$(sha256_of "$tmp/$asset")"
if [ "$actual" != "$expected" ]; then
  die 1 "checksum mismatch for ${asset}: expected ${expected}, got ${actual}; refusing to install (nothing was changed)"
fi
say "checksum verified (sha256 ${actual})"

mkdir -p "$install_dir" || die 1 "cannot create ${install_dir}"
chmod 755 "$tmp/$asset"
# Copy next to the destination first, then rename: an interrupted install never leaves half a binary.
partial="$install_dir/.${binary}.partial.$$"
cp "$tmp/$asset" "$partial" || die 1 "cannot write to ${install_dir}"
mv -f "$partial" "$install_dir/$binary" || die 1 "cannot write ${install_dir}/${binary}"
partial=""
say "installed ${install_dir}/${binary}"

case ":${PATH}:" in
  *":${install_dir}:"*) ;;
  *) say "note: ${install_dir} is not on PATH; add it, e.g. export PATH=\"${install_dir}:\$PATH\"" ;;
esac
