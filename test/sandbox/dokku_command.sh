#!/usr/bin/env bash
# Forced command of the Dokku sandbox (see dokku.ts): speaks Dokku's SSH interface and records calls.
#
# Usage (authorized_keys command=):  dokku_command.sh STATE_DIR
#        (pre-receive hook):          dokku_command.sh STATE_DIR --pre-receive APP
#
# STATE_DIR holds: version, splitting, deploy_branch, calls.log, repos/<app> (bare repos),
# apps/<app> (cwd of `run`), bin/ (fake binaries, first on PATH for `run`), fail_next_build,
# slow_next_build (seconds the next build sleeps; slow_build_started marks that it sleeps).
set -uo pipefail

STATE="$1"
shift

# Dokku's log helpers print these prefixes (dokku_log_info1, dokku_log_fail, ...).
info1() { printf -- '-----> %s\n' "$*"; }
info2() { printf -- '=====> %s\n' "$*"; }
verbose() { printf -- '       %s\n' "$*"; }
fail() {
  printf -- ' !     %s\n' "$*" >&2
  exit 1
}

deploy_branch() { cat "$STATE/deploy_branch" 2>/dev/null || echo master; }

# Real Dokku prefixes build lines with "\e[1G" (move to column 1) so they overwrite git's "remote: ".
build_line() { printf '\e[1G%s\n' "$*"; }

pre_receive() {
  local app="$1" oldrev newrev refname branch flag message seconds
  branch="$(deploy_branch)"
  while read -r oldrev newrev refname; do
    : "$oldrev"
    if [[ "$newrev" =~ ^0+$ ]]; then
      continue
    fi
    if [[ "$refname" != "refs/heads/$branch" ]]; then
      build_line "-----> WARNING: deploy did not complete, you must push to $branch."
      build_line "-----> for example, try 'git push <dokku> ${refname#refs/heads/}:$branch'"
      continue
    fi
    build_line "-----> Cleaning up..."
    build_line "-----> Building $app from herokuish"
    build_line "-----> Adding BUILD_ENV to build environment..."
    build_line "       Revision ${newrev:0:7}"
    # Claim the failure flag atomically so that exactly one push consumes it.
    flag="$STATE/slow_next_build.$$"
    if mv "$STATE/slow_next_build" "$flag" 2>/dev/null; then
      seconds="$(cat "$flag")"
      rm -f "$flag"
      build_line "-----> Compiling $app (this takes ${seconds}s)"
      touch "$STATE/slow_build_started"
      sleep "$seconds"
    fi
    flag="$STATE/fail_next_build.$$"
    if mv "$STATE/fail_next_build" "$flag" 2>/dev/null; then
      message="$(cat "$flag")"
      rm -f "$flag"
      build_line "-----> Compiling $app"
      printf ' !     %s\n' "${message:-App build failed}" >&2
      exit 1
    fi
    build_line "-----> Discovering process types"
    build_line "       Procfile declares types -> web"
    build_line "-----> Releasing $app..."
    build_line "-----> Deploying $app..."
    build_line "=====> Application deployed:"
    build_line "       http://$app.dokku.me"
  done
  exit 0
}

# Dokku's app name rule (verify_app_name): lowercase alphanumerics and dashes; no path tricks here.
valid_app() { [[ "$1" =~ ^[a-z0-9][a-z0-9-]*$ ]]; }

require_app() {
  local app="${1-}"
  [[ -n "$app" ]] || fail "Please specify an app to run the command on"
  valid_app "$app" || fail "App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores"
  [[ -d "$STATE/repos/$app" ]] || fail "App $app does not exist"
}

create_app() {
  local app="$1" repo="$STATE/repos/$1"
  git init -q --bare "$repo" || exit 1
  mkdir -p "$STATE/apps/$app"
  printf '#!/usr/bin/env bash\nexec /usr/bin/env bash %q %q --pre-receive %q\n' \
    "${BASH_SOURCE[0]}" "$STATE" "$app" >"$repo/hooks/pre-receive"
  chmod +x "$repo/hooks/pre-receive"
}

# Review-app commands (apps:clone, apps:destroy, config:*, domains:set, url) live in a file of their own.
# shellcheck source-path=SCRIPTDIR source=dokku_apps.sh
source "${BASH_SOURCE[0]%/*}/dokku_apps.sh"

# One line per call: at_ms TAB base64(raw command) TAB base64(arg) ... (single append => atomic).
record() {
  local line arg
  line="$(date +%s%3N)"$'\t'"$(printf '%s' "$RAW" | base64 -w0)"
  for arg in "$@"; do
    line+=$'\t'"$(printf '%s' "$arg" | base64 -w0)"
  done
  printf '%s\n' "$line" >>"$STATE/calls.log"
}

if [[ "${1-}" == "--pre-receive" ]]; then
  pre_receive "$2"
fi

RAW="${SSH_ORIGINAL_COMMAND-}"
unset SSH_ORIGINAL_COMMAND

# git over ssh sends `git-receive-pack '/app'` (ssh:// URL) or `git-receive-pack 'app'` (scp form).
if [[ "$RAW" =~ ^(git-receive-pack|git-upload-pack|git-upload-archive)\ (.*)$ ]]; then
  git_cmd="${BASH_REMATCH[1]}"
  app="${BASH_REMATCH[2]}"
  if [[ "$app" =~ ^\'(.*)\'$ ]]; then
    app="${BASH_REMATCH[1]}"
  fi
  app="${app#/}"
  app="${app%.git}"
  record "$git_cmd" "$app"
  valid_app "$app" || fail "App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores"
  if [[ ! -d "$STATE/repos/$app" ]]; then
    [[ "$git_cmd" == "git-receive-pack" ]] || fail "App $app does not exist"
    create_app "$app"
  fi
  exec git "${git_cmd#git-}" "$STATE/repos/$app"
fi

# Split the command like Dokku. "xargs" mode: GNU xargs quoting for every command. "dokku" mode: what
# dokku's entry script really does: xargs only when the first word matches config-* or
# docker-options*, otherwise plain whitespace splitting with globbing off (quotes stay literal).
ARGV=()
first="${RAW%%[[:space:]]*}"
if [[ "$(cat "$STATE/splitting" 2>/dev/null)" == "dokku" ]] && [[ ! "$first" =~ config-* ]] &&
  [[ ! "$first" =~ docker-options* ]]; then
  set -f
  # shellcheck disable=SC2206 # word splitting is the point here
  ARGV=($RAW)
  set +f
else
  parsed="$(mktemp "$STATE/xargs.XXXXXX")"
  # The here-string adds the trailing newline Dokku's `xargs $0 <<<$SSH_ORIGINAL_COMMAND` has too;
  # without it GNU xargs drops a final empty '' argument.
  if ! xargs -r printf '%s\0' <<<"$RAW" >"$parsed"; then
    rm -f "$parsed"
    record
    exit 1
  fi
  mapfile -d '' -t ARGV <"$parsed"
  rm -f "$parsed"
fi
record "${ARGV[@]}"

# Dokku's global flags come before the command; --app APP is inserted as the first argument.
global_app=""
while [[ ${#ARGV[@]} -gt 0 ]]; do
  case "${ARGV[0]}" in
    --quiet | --trace | --rm | --rm-container | --force) ARGV=("${ARGV[@]:1}") ;;
    --app)
      global_app="${ARGV[1]-}"
      ARGV=("${ARGV[@]:2}")
      ;;
    *) break ;;
  esac
done
set -- "${ARGV[@]}"
cmd="${1-}"
[[ $# -gt 0 ]] && shift
if [[ -n "$global_app" ]]; then
  set -- "$global_app" "$@"
fi

ps_line() {
  local verb="$1" app="$2" type="${3-}"
  require_app "$app"
  if [[ -n "$type" ]]; then
    info1 "$verb $app ($type)"
  else
    info1 "$verb $app"
  fi
}

case "$cmd" in
  "" | help)
    echo "Usage: dokku [--quiet|--trace|--rm-container|--rm|--force] COMMAND <app> [command-specific-options]"
    ;;
  version | -v | --version)
    echo "dokku version $(cat "$STATE/version")"
    ;;
  apps:exists)
    [[ -n "${1-}" ]] || fail "Please specify an app to run the command on"
    if ! valid_app "$1" || [[ ! -d "$STATE/repos/$1" ]]; then
      fail "App $1 does not exist"
    fi
    ;;
  apps:create)
    [[ -n "${1-}" ]] || fail "Please specify an app to run the command on"
    valid_app "$1" || fail "App name must begin with lowercase alphanumeric character, and cannot include uppercase characters, colons, or underscores"
    [[ ! -d "$STATE/repos/$1" ]] || fail "Name is already taken"
    create_app "$1"
    info1 "Creating $1..."
    ;;
  ps:restart) ps_line Restarting "${1-}" "${2-}" ;;
  ps:stop) ps_line Stopping "${1-}" "${2-}" ;;
  ps:start) ps_line Starting "${1-}" "${2-}" ;;
  ps:rebuild) ps_line Rebuilding "${1-}" ;;
  ps:scale)
    require_app "${1-}"
    app="$1"
    shift
    for pair in "$@"; do
      [[ "$pair" =~ ^[A-Za-z0-9_-]+=[0-9]+$ ]] || fail "Invalid process scaling '$pair', expected TYPE=QUANTITY"
    done
    if [[ $# -eq 0 ]]; then
      info2 "Scaling for $app"
      verbose "web: 1"
    else
      info1 "Scaling $app processes: $*"
    fi
    ;;
  run)
    # Flags first (Go flag parsing stops at the first positional argument), then APP CMD...
    run_env=()
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --no-tty | --tty | -no-tty | -tty) shift ;;
        --env | -env | -e)
          [[ $# -ge 2 ]] || fail "flag needs an argument: $1"
          run_env+=("$2")
          shift 2
          ;;
        --env=* | -env=*)
          run_env+=("${1#*=}")
          shift
          ;;
        --cron-id | -cron-id) shift 2 ;;
        --) shift && break ;;
        -*) fail "flag provided but not defined: $1" ;;
        *) break ;;
      esac
    done
    require_app "${1-}"
    app="$1"
    shift
    [[ $# -gt 0 ]] || fail "No command specified"
    mkdir -p "$STATE/apps/$app"
    cd "$STATE/apps/$app" || exit 1
    for pair in "${run_env[@]}"; do
      [[ "$pair" == *=* ]] || fail "Invalid environment variable '$pair', expected KEY=VALUE"
      export "${pair%%=*}=${pair#*=}"
    done
    export APP="$app" PATH="$STATE/bin:$PATH"
    exec -- "$@"
    ;;
  *)
    apps_command "$cmd" "$@"
    status=$?
    [[ $status -eq 127 ]] || exit "$status"
    # shellcheck disable=SC2016 # the backticks are literal, as in Dokku's message
    printf -- ' !     `%s` is not a dokku command.\n' "$cmd${*:+ $*}" >&2
    # shellcheck disable=SC2016
    printf -- ' !     See `dokku help` for a list of available commands.\n' >&2
    exit 1
    ;;
esac
