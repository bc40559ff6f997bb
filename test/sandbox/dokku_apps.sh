#!/usr/bin/env bash
# Review-app commands of the Dokku sandbox, sourced by dokku_command.sh: apps:clone, apps:destroy,
# config:set, config:get, domains:set and url, modelled on dokku/dokku @ 33896f5. State:
# config/<app>/<KEY> (one file per config var), domains/<app> (one domain a line),
# fail_next_<command> (the next such command fails with the file's text, then the file is gone).
# shellcheck shell=bash

# apps_command CMD ARGS...: runs a command this file knows; returns 127 for any other.
apps_command() {
  local cmd="$1"
  shift
  case "$cmd" in
    apps:clone | apps:destroy | config:set | config:get | domains:set | url) ;;
    *) return 127 ;;
  esac
  local flag="$STATE/fail_next_${cmd//:/_}" message
  if [[ -f "$flag" ]]; then
    message="$(cat "$flag")"
    rm -f "$flag"
    fail "${message:-$cmd failed}"
  fi
  case "$cmd" in
    apps:clone) apps_clone "$@" ;;
    apps:destroy) apps_destroy "$@" ;;
    config:set) config_set "$@" ;;
    config:get) config_get "$@" ;;
    domains:set) domains_set "$@" ;;
    url) app_url "$@" ;;
  esac
}

# plugins/apps/subcommands.go CommandClone: checks both names, refuses a taken one (a warning and
# exit 0 with --ignore-existing), creates the app, then the post-app-clone-setup triggers copy the
# config (plugins/config TriggerPostAppCloneSetup), the git repo (plugins/git/post-app-clone-setup:
# the app directory, a new hook) and reset the domains (plugins/domains/post-app-clone-setup).
apps_clone() {
  local skip_deploy=false ignore_existing=false
  while [[ "${1-}" == --* ]]; do
    case "$1" in
      --skip-deploy) skip_deploy=true ;;
      --ignore-existing) ignore_existing=true ;;
      *) fail "unknown flag: $1" ;;
    esac
    shift
  done
  local old="${1-}" new="${2-}"
  [[ -n "$old" ]] || fail "Please specify an app to run the command on"
  [[ -n "$new" ]] || fail "Please specify an new app name"
  require_app "$old"
  [[ "$new" =~ ^[a-z0-9][a-z0-9.-]*$ ]] ||
    fail "App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens"
  if [[ -d "$STATE/repos/$new" ]]; then
    if $ignore_existing; then
      printf -- ' !     %s\n' "Name is already taken" >&2
      return 0
    fi
    fail "Name is already taken"
  fi
  info1 "Cloning $old to $new"
  create_app "$new"
  cp -a "$STATE/repos/$old/." "$STATE/repos/$new/"
  printf '#!/usr/bin/env bash\nexec /usr/bin/env bash %q %q --pre-receive %q\n' \
    "${BASH_SOURCE[0]%/*}/dokku_command.sh" "$STATE" "$new" >"$STATE/repos/$new/hooks/pre-receive"
  if [[ -d "$STATE/config/$old" ]]; then
    mkdir -p "$STATE/config"
    cp -a "$STATE/config/$old" "$STATE/config/$new"
  fi
  rm -f "$STATE/domains/$new"
  # without --skip-deploy Dokku rebuilds the clone from the copied repo; the sandbox only says so
  $skip_deploy || info1 "Deploying $new..."
}

# plugins/apps/functions.go destroyApp: without --force (DOKKU_APPS_FORCE_DELETE) Dokku asks for the
# app's name on stdin (common.AskForDestructiveConfirmation); ssh gives it none, so it aborts.
apps_destroy() {
  [[ "${1-}" == "--force" ]] && shift
  local app="${1-}"
  require_app "$app"
  [[ "$RAW" =~ (^|[[:space:]])--force([[:space:]]|$) ]] ||
    fail "Confirmation did not match $app. Aborted."
  info1 "Destroying $app (including all add-ons)"
  rm -rf "$STATE/repos/$app" "$STATE/apps/$app" "$STATE/config/$app" "$STATE/domains/$app"
}

# plugins/config/src/subcommands/subcommands.go "set": --encoded, --no-restart, APP KEY=VALUE...
config_set() {
  local encoded=false restart=true quiet=false
  [[ "$RAW" =~ ^--quiet[[:space:]] ]] && quiet=true
  while [[ "${1-}" == --* ]]; do
    case "$1" in
      --encoded) encoded=true ;;
      --no-restart) restart=false ;;
      --global) fail "--global is not modelled by the sandbox" ;;
      *) fail "unknown flag: $1" ;;
    esac
    shift
  done
  local app="${1-}" pair key value
  require_app "$app"
  shift
  [[ $# -gt 0 ]] || fail "At least one env pair must be given"
  mkdir -p "$STATE/config/$app"
  $quiet || info1 "Setting config vars"
  for pair in "$@"; do
    [[ "$pair" == *=* ]] || fail "Invalid env pair: $pair"
    key="${pair%%=*}"
    value="${pair#*=}"
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "Invalid env pair: $pair"
    if $encoded; then value="$(printf '%s' "$value" | base64 -d)"; fi
    printf '%s' "$value" >"$STATE/config/$app/$key"
    # plugins/config/config.go: prettyPrintEnvEntries, unless --quiet set DOKKU_QUIET_OUTPUT
    $quiet || verbose "$key:  $value"
  done
  $restart && info1 "Restarting app $app"
  return 0
}

# plugins/config/functions.go SubGet: the value, or exit 1 with no output when the key is unset.
config_get() {
  local app="${1-}" key="${2-}"
  require_app "$app"
  [[ -n "$key" ]] || fail "Expected: key"
  [[ -f "$STATE/config/$app/$key" ]] || exit 1
  printf '%s\n' "$(cat "$STATE/config/$app/$key")"
}

# plugins/domains/subcommands/set: replaces the app's domains.
domains_set() {
  local app="${1-}"
  require_app "$app"
  shift
  [[ $# -gt 0 ]] || fail "Please specify a domain name. Usage: dokku domains:set $app <domain> [<domain> ...]"
  mkdir -p "$STATE/domains"
  printf '%s\n' "$@" >"$STATE/domains/$app"
  info1 "Setting domains for $app"
}

# plugins/00_dokku-standard/subcommands/urls via `domains-urls`: the first http URL, from the app's
# domains, else <app>.<global vhost> (dokku.me here).
app_url() {
  local app="${1-}" domain
  require_app "$app"
  domain="$(head -n1 "$STATE/domains/$app" 2>/dev/null)"
  printf 'http://%s\n' "${domain:-$app.dokku.me}"
}
