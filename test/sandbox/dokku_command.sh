#!/usr/bin/env bash
# Forced command of the Dokku sandbox (see dokku.ts): models what real Dokku does with an SSH command,
# from dokku/dokku (mirror commit 33896f5d7efc3b03d0ea94934d8413cddbce07fd unless a tag is named) and
# gliderlabs/herokuish (commit fbc485e2de50e67f8c986c313e04983e255dd6b6), and records every call.
# Each modelled behaviour cites its source beside the code. Nothing here is copied from upstream.
#
# Usage (authorized_keys command=):  dokku_command.sh STATE_DIR
#        (pre-receive hook):          dokku_command.sh STATE_DIR --pre-receive APP
#
# STATE_DIR holds: version, splitting (xargs-n1 | whitespace), builder (herokuish | dockerfile),
# autocreate (true | false), global_deploy_branch, calls.log, runs.log (argv each app program got),
# ps.log (process events), repos/<app> (bare repos), apps/<app> (the "container": cwd of `run`),
# props/<app>/<name> (app properties), bin/ (fake binaries, first on PATH in the container),
# fail_next_build, slow_next_build (seconds; slow_build_started marks that it sleeps), build.pid.
set -uo pipefail

STATE="$1"
shift
SELF="${BASH_SOURCE[0]}"

# Dokku's log helpers (plugins/common/functions dokku_log_info1, dokku_log_verbose, dokku_log_fail;
# Go: plugins/common/log.go LogFail prints " !     " on stderr).
info1() { printf -- '-----> %s\n' "$*"; }
info2() { printf -- '=====> %s\n' "$*"; }
verbose() { printf -- '       %s\n' "$*"; }
warn() { printf -- ' !     %s\n' "$*" >&2; }
fail() {
  warn "$*"
  exit 1
}
# Real Dokku prefixes build lines with "\e[1G\e[K" (plugins/git/functions:70) so they overwrite git's
# "remote: " prefix.
build_line() { printf '\e[1G\e[K%s\n' "$*"; }

version() { cat "$STATE/version"; }
# true when the sandbox's Dokku version is at least $1
version_ge() { [[ "$(printf '%s\n%s\n' "$1" "$(version)" | sort -V | head -n1)" == "$1" ]]; }

prop_get() { cat "$STATE/props/$1/$2" 2>/dev/null || true; }
prop_set() {
  mkdir -p "$STATE/props/$1"
  printf '%s' "$3" >"$STATE/props/$1/$2"
}

# fn-git-computed-deploy-branch (plugins/git/internal-functions:499): app property, else the global
# one, else DEFAULT ("master" unless given).
deploy_branch() {
  local app="$1" default="${2-master}" own global
  own="$(prop_get "$app" deploy-branch)"
  global="$(cat "$STATE/global_deploy_branch" 2>/dev/null || true)"
  if [[ -n "$own" ]]; then
    echo "$own"
  elif [[ -n "$global" ]]; then
    echo "$global"
  else
    echo "$default"
  fi
}

# IsValidAppName (plugins/common/common.go:1009): dots allowed on current Dokku (behaviour 9); the
# older rule (IsValidAppNameOld, common.go:1023) allowed underscores too. VerifyAppName accepts either.
valid_app() { [[ "$1" =~ ^[a-z0-9][a-z0-9._-]*$ ]]; }
APP_NAME_ERROR="App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens"

# VerifyAppName (common.go:1070): "App X does not exist" (common.go:1051).
require_app() {
  local app="${1-}"
  [[ -n "$app" ]] || fail "Please specify an app to run the command on"
  valid_app "$app" || fail "$APP_NAME_ERROR"
  [[ -d "$STATE/repos/$app" ]] || fail "App $app does not exist"
}

create_app() {
  local app="$1" repo="$STATE/repos/$1"
  git init -q --bare "$repo" || exit 1
  mkdir -p "$STATE/apps/$app" "$STATE/props/$app"
  # fn-git-create-hook (plugins/git/internal-functions:356): the pre-receive hook runs `dokku git-hook`
  printf '#!/usr/bin/env bash\nexec /usr/bin/env bash %q %q --pre-receive %q\n' \
    "$SELF" "$STATE" "$app" >"$repo/hooks/pre-receive"
  chmod +x "$repo/hooks/pre-receive"
}

# maybeCreateApp (plugins/apps/functions.go:130): git-upload-pack and git-receive-pack create a
# missing app (plugins/git/functions:158, :173) unless auto-creation is disabled globally.
maybe_create_app() {
  local app="$1"
  [[ -d "$STATE/repos/$app" ]] && return 0
  if [[ "$(cat "$STATE/autocreate")" != "true" ]]; then
    warn "App auto-creation disabled."
    fail "Re-enable app auto-creation or create an app with 'dokku apps:create $app'"
  fi
  create_app "$app"
}
# Review-app commands (apps:clone, apps:destroy, config:*, domains:set, url) live in a file of their own.
# shellcheck source-path=SCRIPTDIR source=dokku_apps.sh
source "${BASH_SOURCE[0]%/*}/dokku_apps.sh"

# One line per call: at_ms TAB base64(raw command) TAB base64(arg) ... (single append => atomic).
b64_line() {
  local line arg
  line="$1"
  shift
  for arg in "$@"; do
    line+=$'\t'"$(printf '%s' "$arg" | base64 -w0)"
  done
  printf '%s\n' "$line"
}
record() {
  [[ -n "${SANDBOX_ADMIN-}" ]] && return 0
  b64_line "$(date +%s%3N)"$'\t'"$(printf '%s' "$RAW" | base64 -w0)" "$@" >>"$STATE/calls.log"
}
# runs.log: at_ms TAB app TAB kind (run | release | predeploy) TAB base64(arg) ...: the argv the app's
# program received in the container.
record_run() {
  local app="$1" kind="$2"
  shift 2
  b64_line "$(date +%s%3N)"$'\t'"$app"$'\t'"$kind" "$@" >>"$STATE/runs.log"
}
ps_event() { printf '%s\t%s\t%s\n' "$1" "$2" "${3-*}" >>"$STATE/ps.log"; }

# The deployed tree's Procfile command for TYPE (procfile-get-command), empty when there is none.
procfile_command() {
  local app="$1" type="$2" rev
  rev="$(cat "$STATE/apps/$app/.deployed_rev" 2>/dev/null)" || return 0
  git --git-dir "$STATE/repos/$app" show "$rev:Procfile" 2>/dev/null |
    sed -n "s/^$type:[[:space:]]*//p" | head -n1
}

# A release task runs in an ephemeral container through the app's shell (plugins/app-json/
# functions.go:140 executeScript, constructScript): the command string goes through `bash -c`.
run_task() {
  local app="$1" kind="$2" command="$3"
  (
    cd "$STATE/apps/$app" || exit 1
    # shellcheck disable=SC2030 # the task's own environment
    export APP="$app" PATH="$STATE/bin:$PATH" SANDBOX_RUN_KIND="$kind" SANDBOX_STATE="$STATE"
    record_run "$app" "$kind" bash -c "$command"
    exec bash -c "$command"
  )
}

build() {
  local app="$1" rev="$2" flag message seconds predeploy release
  echo $$ >"$STATE/build.pid"
  build_line "-----> Cleaning up..."
  build_line "-----> Building $app from $(cat "$STATE/builder")"
  build_line "-----> Adding BUILD_ENV to build environment..."
  build_line "       Revision ${rev:0:7}"
  # Claim each flag atomically so that exactly one build consumes it.
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
    rm -f "$flag" "$STATE/build.pid"
    build_line "-----> Compiling $app"
    printf ' !     %s\n' "${message:-App build failed}" >&2
    return 1
  fi
  build_line "-----> Discovering process types"
  build_line "       Procfile declares types -> web"
  # Release tasks run inside the push (behaviour 7): app.json scripts.dokku.predeploy before the
  # release (plugins/app-json/triggers.go:220), the Procfile's release: process after it
  # (triggers.go:227, functions.go:105 getReleaseCommand); a failing task fails the deploy.
  predeploy="$(git --git-dir "$STATE/repos/$app" show "$rev:app.json" 2>/dev/null |
    jq -r '.scripts.dokku.predeploy // empty' 2>/dev/null)"
  build_line "-----> Checking for predeploy task"
  if [[ -n "$predeploy" ]]; then
    build_line "       Executing predeploy task from app.json: $predeploy"
    if ! run_task "$app" predeploy "$predeploy" 2>&1 | sed 's/^/       /'; then
      warn "Execution of predeploy task failed: $predeploy"
      return 1
    fi
  else
    build_line "       No predeploy task found, skipping"
  fi
  build_line "-----> Releasing $app..."
  release="$(git --git-dir "$STATE/repos/$app" show "$rev:Procfile" 2>/dev/null |
    sed -n 's/^release:[[:space:]]*//p' | head -n1)"
  build_line "-----> Checking for release task"
  if [[ -n "$release" ]]; then
    build_line "       Executing release task from Procfile in ephemeral container: $release"
    if ! run_task "$app" release "$release" 2>&1 | sed 's/^/       /'; then
      warn "Execution of release task failed: $release"
      return 1
    fi
  else
    build_line "       No release task found, skipping"
  fi
  build_line "-----> Deploying $app..."
  # the container's working directory (/app) holds the deployed tree
  find "$STATE/apps/$app" -mindepth 1 -maxdepth 1 ! -name '.runs' -exec rm -rf {} +
  git --git-dir "$STATE/repos/$app" archive "$rev" | tar -x -C "$STATE/apps/$app"
  printf '%s' "$rev" >"$STATE/apps/$app/.deployed_rev"
  ps_event deploy "$app"
  build_line "=====> Application deployed:"
  build_line "       http://$app.dokku.me"
  rm -f "$STATE/build.pid"
}

# cmd-git-hook (plugins/git/functions:59): the pre-receive hook. A push to the deploy branch builds
# and, only when the build succeeds, records the deploy source (functions:80-81; the hook runs with
# `set -e`, so a failed build stops before deploy-source-set).
pre_receive() {
  local app="$1" oldrev newrev refname branch own global
  branch="$(deploy_branch "$app")"
  while read -r oldrev newrev refname; do
    : "$oldrev"
    if [[ "$newrev" =~ ^0+$ ]]; then
      continue
    fi
    # a tag named like the deploy branch deploys too, since v0.31.1 (functions:79, d3441b7f7)
    if [[ "$refname" == "refs/heads/$branch" ]] ||
      { [[ "$refname" == "refs/tags/$branch" ]] && version_ge 0.31.1; }; then
      build "$app" "$newrev" || exit 1
      set_deploy_source "$app" git-push "$newrev"
      continue
    fi
    own="$(prop_get "$app" deploy-branch)"
    global="$(cat "$STATE/global_deploy_branch" 2>/dev/null || true)"
    # Since v0.31.1 (commit d3441b7f7, functions:87-94) a push to another branch, with no deploy
    # branch configured for the app nor globally, makes that branch the deploy branch and deploys.
    if [[ -z "$own$global" ]] && version_ge 0.31.1 && [[ "$refname" == refs/heads/* ]]; then
      branch="${refname#refs/heads/}"
      build_line "-----> Set $branch as deploy-branch"
      prop_set "$app" deploy-branch "$branch"
      build "$app" "$newrev" || exit 1
      set_deploy_source "$app" git-push "$newrev"
      continue
    fi
    # functions:96-97: a warning, and the hook still exits 0, so git moves the ref (behaviour 4).
    build_line "-----> WARNING: deploy did not complete, you must push to $branch."
    build_line "-----> for example, try 'git push <dokku> ${refname#refs/heads/}:$branch'"
  done
  exit 0
}

# TriggerDeploySourceSet (plugins/apps/triggers.go:33): Dokku >= 0.26 (commit c0b694239) records
# what a successful deploy came from; older Dokku records nothing (behaviour 6).
set_deploy_source() {
  version_ge 0.26.0 || return 0
  prop_set "$1" deploy-source "$2"
  prop_set "$1" deploy-source-metadata "$3"
}

if [[ "${1-}" == "--pre-receive" ]]; then
  pre_receive "$2"
fi

RAW="${SSH_ORIGINAL_COMMAND-}"
unset SSH_ORIGINAL_COMMAND

# parse_args (plugins/common/functions:479) scans EVERY word, wherever it is (behaviour 2): `--trace`
# turns on DOKKU_TRACE (`set -x` in Dokku's scripts, TRACE=true in a run container:
# plugins/scheduler-docker-local/scheduler-run:40), `--app X` sends the command to app X
# (dokku:185-187 puts DOKKU_APP_NAME first for core plugins), `--quiet` quiets the output.
DOKKU_TRACE="" DOKKU_APP_NAME=""
parse_args() {
  local args=("$@") i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      --trace) DOKKU_TRACE=1 ;;
      --app)
        DOKKU_APP_NAME="${args[i + 1]-}"
        i=$((i + 1))
        ;;
    esac
  done
}

# The `dokku` entry script runs once with the words of the login shell's split of
# `dokku $SSH_ORIGINAL_COMMAND` (sshcommand's authorized_keys line), and re-runs itself with the
# command split again (dokku:107-123). This sandbox does not glob those first words.
set -f
# shellcheck disable=SC2206 # word splitting is the point here
FIRST=($RAW)
set +f
parse_args "${FIRST[@]}"
# dokku:73-87: leading global flags are shifted off before the first word is looked at.
first_word() {
  local skip=false arg
  if [[ "${1-}" =~ ^--.* ]]; then
    for arg in "$@"; do
      if $skip; then
        skip=false
        continue
      fi
      if [[ "$arg" == "--version" ]]; then
        echo "$arg"
        return
      elif [[ "$arg" == "--app" ]]; then
        skip=true
      elif [[ ! "$arg" =~ ^--.* ]]; then
        echo "$arg"
        return
      fi
    done
    return
  fi
  echo "${1-}"
}
first="$(first_word "${FIRST[@]}")"

ARGV=()
# Splitting (behaviour 1). Both regimes test the first word with an unanchored regex, so `git-*`
# matches any word containing "git".
if [[ "$first" =~ git-* ]] || [[ "$first" =~ git:* ]] ||
  { [[ "$(cat "$STATE/splitting")" == "whitespace" ]] && [[ ! "$first" =~ config-* ]] &&
    [[ ! "$first" =~ docker-options* ]]; }; then
  # dokku:110-113 (and v0.33.x dokku:113-115): `$0 $SSH_ORIGINAL_COMMAND` with globbing off: a
  # split on whitespace only, quotes stay literal.
  set -f
  # shellcheck disable=SC2206 # word splitting is the point here
  ARGV=($RAW)
  set +f
elif [[ "$(cat "$STATE/splitting")" == "whitespace" ]]; then
  # v0.33.x dokku:109-111: `xargs $0 <<<$SSH_ORIGINAL_COMMAND` for config* and docker-options*
  # commands: GNU xargs quoting, one invocation.
  parsed="$(mktemp "$STATE/xargs.XXXXXX")"
  xargs -r printf '%s\0' <<<"$RAW" >"$parsed"
  mapfile -d '' -t ARGV <"$parsed"
  rm -f "$parsed"
else
  # Since v0.34.0 (commit 91c8e62da, dokku:116): `printf '%s' "$SSH_ORIGINAL_COMMAND" | xargs -n 1`
  # runs /bin/echo once per word, and readarray reads its output lines back. This is the real
  # xargs and the real coreutils echo: `-n` vanishes, `-e`/`-E` become empty, `--version` and
  # `--help` become echo's own text, and a newline inside an argument splits it.
  readarray -t ARGV < <(printf '%s' "$RAW" | xargs -n 1)
fi
if [[ "${ARGV[0]-}" =~ ^git-(receive-pack|upload-pack|upload-archive)$ ]] && [[ ${#ARGV[@]} -ge 2 ]]; then
  # cmd-git-upload-pack / cmd-git-glob (plugins/git/functions:156, :168): the app name arrives as
  # 'app' (quotes literal, stripped), with a leading slash for ssh:// URLs.
  app="${ARGV[1]//\'/}"
  app="${app#/}"
  ARGV[1]="${app%.git}"
fi
record "${ARGV[@]}"
# The re-run of the entry script parses the new words too (dokku:70).
parse_args "${ARGV[@]}"
set -- "${ARGV[@]}"
if [[ "${1-}" =~ ^--.* ]]; then
  # dokku:73-87 in the re-run, for real this time
  skip=false
  for arg in "$@"; do
    if $skip; then
      skip=false
      continue
    fi
    [[ "$arg" == "--version" ]] && break
    if [[ "$arg" == "--app" ]]; then
      shift 2
      skip=true
    elif [[ "$arg" =~ ^--.* ]]; then
      shift 1
    else
      break
    fi
  done
fi

cmd="${1-}"
[[ $# -gt 0 ]] && shift
# dokku:185-187: for a core plugin command, DOKKU_APP_NAME goes first.
if [[ -n "$DOKKU_APP_NAME" ]]; then
  set -- "$DOKKU_APP_NAME" "$@"
fi
if [[ -n "$DOKKU_TRACE" ]]; then
  # `[[ $DOKKU_TRACE ]] && set -x` at the top of every plugin script: Dokku's internals reach the
  # client's stderr.
  export PS4='+ '
  set -x
fi

# Collects `dokku ps:*` process types of an app, for ps events.
ps_all_or_type() {
  local verb="$1" app="$2" type="${3-}"
  require_app "$app"
  # ps:restart APP TYPE restarts one type since v0.26.0 (docs/processes/process-management.md:9 at
  # v0.26.0 vs v0.25.7); older versions ignore the type and restart the whole app.
  if [[ "$verb" == restart ]] && [[ -n "$type" ]] && version_ge 0.26.0; then
    info1 "Restarting $app ($type)"
    ps_event restart "$app" "$type"
    return
  fi
  # ps:stop and ps:start take no process type (plugins/ps/subcommands.go:208 CommandStop(appName,
  # allApps, parallelCount)): a type is ignored and the whole app stops or starts (behaviour 8).
  case "$verb" in
    restart) info1 "Restarting $app" ;;
    stop) info1 "Stopping $app" ;;
    start) info1 "Starting $app" ;;
  esac
  ps_event "$verb" "$app"
}

# `apps:report` / `git:report`: one flag prints its value alone; none prints the whole report.
# (common.ReportSingleApp, plugins/common/report.go)
report() {
  local title="$1" app="$2" flag="${3-}" line key value
  shift 3
  if [[ -n "$flag" ]]; then
    for line in "$@"; do
      key="${line%%=*}"
      if [[ "$key" == "$flag" ]]; then
        printf '%s\n' "${line#*=}"
        return
      fi
    done
    local keys=()
    for line in "$@"; do keys+=("${line%%=*}"); done
    local joined
    joined="$(
      IFS=,
      echo "${keys[*]}"
    )"
    fail "Invalid flag passed, valid flags: ${joined//,/, }"
  fi
  info2 "$app $title information"
  for line in "$@"; do
    key="${line%%=*}"
    key="${key#--}"
    key="${key//-/ }"
    value="${line#*=}"
    printf '       %-40s %s\n' "${key^}:" "$value"
  done
}

case "$cmd" in
  "" | help)
    echo "Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]"
    ;;
  version | -v | --version)
    echo "dokku version $(version)"
    ;;
  git-receive-pack | git-upload-pack | git-upload-archive)
    app="${1-}"
    valid_app "$app" || fail "$APP_NAME_ERROR"
    # Both create a missing app, ls-remote (git-upload-pack) included (behaviour 5).
    if [[ "$cmd" != "git-upload-archive" ]]; then
      maybe_create_app "$app"
    fi
    [[ -d "$STATE/repos/$app" ]] || fail "App $app does not exist"
    exec git "${cmd#git-}" "$STATE/repos/$app"
    ;;
  apps:exists)
    # CommandExists (plugins/apps/subcommands.go:97), since v0.11.5
    require_app "${1-}"
    ;;
  apps:create)
    [[ -n "${1-}" ]] || fail "Please specify an app to run the command on"
    valid_app "$1" || fail "$APP_NAME_ERROR"
    [[ ! -d "$STATE/repos/$1" ]] || fail "Name is already taken"
    create_app "$1"
    info1 "Creating $1..."
    ;;
  apps:report)
    require_app "${1-}"
    entries=("--app-dir=/home/dokku/$1" "--app-locked=false")
    # plugins/apps/report.go:26-27, since v0.26.0 (commit c0b694239)
    if version_ge 0.26.0; then
      entries=("--app-deploy-source=$(prop_get "$1" deploy-source)"
        "--app-deploy-source-metadata=$(prop_get "$1" deploy-source-metadata)" "${entries[@]}")
    fi
    report app "$1" "${2-}" "${entries[@]}"
    ;;
  git:report)
    require_app "${1-}"
    own="$(prop_get "$1" deploy-branch)"
    global="$(cat "$STATE/global_deploy_branch" 2>/dev/null || true)"
    if version_ge 0.38.4; then
      # plugins/git/report.go: raw properties, plus the computed branch (commit c45b95fc4, v0.38.4)
      entries=("--git-computed-deploy-branch=$(deploy_branch "$1")" "--git-deploy-branch=$own"
        "--git-global-deploy-branch=$global")
    else
      # v0.35.0 plugins/git/internal-functions:294-295: each property with "master" as default
      entries=("--git-deploy-branch=${own:-master}" "--git-global-deploy-branch=${global:-master}")
    fi
    # --git-sha is `git rev-parse HEAD` in the app's repo (report.go:131), not the deploy branch
    entries+=("--git-sha=$(git --git-dir "$STATE/repos/$1" rev-parse --verify -q HEAD || true)")
    report git "$1" "${2-}" "${entries[@]}"
    ;;
  git:set)
    # git:set APP|--global deploy-branch [VALUE]
    [[ "${2-}" == "deploy-branch" ]] || fail "Invalid property specified"
    if [[ "${1-}" == "--global" ]]; then
      printf '%s' "${3-}" >"$STATE/global_deploy_branch"
    else
      require_app "${1-}"
      prop_set "$1" deploy-branch "${3-}"
    fi
    info2 "Setting deploy-branch"
    ;;
  git:sync)
    # cmd-git-sync (plugins/git/internal-functions:238): moves the deploy branch's ref; builds only
    # with --build, and records the deploy source ("git-sync", "REMOTE#REF") only after a successful
    # build (:310-311). A failed build leaves the ref moved (behaviour 6).
    build_flag="" sync_args=()
    for arg in "$@"; do
      case "$arg" in
        --build | --build-if-changes) build_flag="$arg" ;;
        *) sync_args+=("$arg") ;;
      esac
    done
    app="${sync_args[0]-}" remote="${sync_args[1]-}" ref="${sync_args[2]-}"
    require_app "$app"
    [[ -n "$remote" ]] || fail "Missing GIT_REMOTE parameter"
    branch="$(deploy_branch "$app")"
    verbose "Fetching remote code for $app from $remote#$ref"
    git --git-dir "$STATE/repos/$app" fetch -q "$remote" "+${ref:-HEAD}:refs/heads/$branch" || exit 1
    if [[ -n "$build_flag" ]]; then
      rev="$(git --git-dir "$STATE/repos/$app" rev-parse "refs/heads/$branch")"
      build "$app" "$rev" || exit 1
      set_deploy_source "$app" git-sync "$remote#$rev"
    fi
    ;;
  ps:restart) ps_all_or_type restart "${1-}" "${2-}" ;;
  ps:stop) ps_all_or_type stop "${1-}" "${2-}" ;;
  ps:start) ps_all_or_type start "${1-}" "${2-}" ;;
  ps:rebuild)
    # Rebuild (plugins/ps/ps.go:78) fires receive-app without a revision, so git_build builds the
    # deploy branch's ref (plugins/git/functions:117-124) and records no deploy source.
    require_app "${1-}"
    rev="$(git --git-dir "$STATE/repos/$1" rev-parse --verify -q "refs/heads/$(deploy_branch "$1")")" ||
      {
        build_line "-----> WARNING: Cannot build from '$(deploy_branch "$1")' as there are no commits stored at that branch."
        exit 1
      }
    build "$1" "$rev" || exit 1
    ;;
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
  run:stop)
    # cmd-run-stop (plugins/run/internal-functions:244), since v0.29.0 (commit aa810cda7)
    version_ge 0.29.0 || fail "\`run:stop\` is not a dokku command."
    app="" container=""
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --container=*) container="${1#--container=}" ;;
        --container)
          container="${2-}"
          shift
          ;;
        *) app="$1" ;;
      esac
      shift
    done
    require_app "$app"
    for file in "$STATE/apps/$app/.runs/"*; do
      [[ -e "$file" ]] || continue
      name="$(basename "$file")"
      [[ -z "$container" || "$container" == "$name" ]] || continue
      kill -TERM "$(cat "$file")" 2>/dev/null && info1 "Stopping $name"
      rm -f "$file"
    done
    ;;
  run:list)
    require_app "${1-}"
    info2 "$1 run containers"
    for file in "$STATE/apps/$1/.runs/"*; do
      [[ -e "$file" ]] && basename "$file"
    done
    ;;
  builds:cancel)
    # builds plugin, since v0.38.0 (docs/advanced-usage/builds.md:117): signals the running deploy
    version_ge 0.38.0 || fail "\`builds:cancel\` is not a dokku command."
    require_app "${1-}"
    pid="$(cat "$STATE/build.pid" 2>/dev/null)" || fail "No build running for $1"
    kill -TERM "$pid" 2>/dev/null || true
    pkill -TERM -P "$pid" 2>/dev/null || true
    rm -f "$STATE/build.pid"
    info1 "Canceled build for $1"
    ;;
  run)
    # fn-run (plugins/run/internal-functions:6): flags before the app; the first other word is APP.
    run_env=()
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --no-tty | --force-tty) shift ;;
        --cron-id=* | --concurrency-policy=* | --ttl-seconds=*) shift ;;
        --cron-id | --concurrency-policy | --ttl-seconds) shift 2 ;;
        -e=* | --env=*)
          run_env+=("${1#*=}")
          shift
          ;;
        -e | --env)
          [[ -n "${2-}" ]] || break
          run_env+=("$2")
          shift 2
          ;;
        *) break ;;
      esac
    done
    require_app "${1-}"
    app="$1"
    shift
    [[ -f "$STATE/apps/$app/.deployed_rev" ]] || {
      # scheduler-run:27-30: no release image yet
      warn "Invalid image stage detected: expected 'release', got ''"
      fail "Successfully deploy your app to fix dokku run calls"
    }
    # scheduler-run:103-117: a leading "--" is dropped; a first word naming a Procfile process
    # type is replaced by that process's command, split on whitespace.
    [[ "${1-}" == "--" ]] && shift
    if [[ -n "${1-}" ]]; then
      proc="$(procfile_command "$app" "$1")"
      if [[ -n "$proc" ]]; then
        info1 "Found '$1' in Procfile, running that command"
        read -ra proc_array <<<"$proc"
        set -- "${proc_array[@]}" "${@:2}"
      fi
    fi
    name="$app.run.$RANDOM"
    mkdir -p "$STATE/apps/$app/.runs"
    echo $$ >"$STATE/apps/$app/.runs/$name"
    cd "$STATE/apps/$app" || exit 1
    for pair in "${run_env[@]}"; do
      export "${pair%%=*}=${pair#*=}"
    done
    # shellcheck disable=SC2031 # a fresh environment for the container
    export APP="$app" DYNO="run.${name##*.}" PATH="$STATE/bin:$PATH" SANDBOX_RUN_KIND=run \
      SANDBOX_STATE="$STATE"
    [[ -n "$DOKKU_TRACE" ]] && export TRACE=true
    set +x
    if [[ "$(cat "$STATE/builder")" == "herokuish" ]]; then
      # A herokuish image runs `/exec ARGS` (scheduler-run:101,134), and /exec is procfile-exec
      # (herokuish include/herokuish.bash:158), which ends in
      # `exec setuidgid USER $(eval echo "$@")` (include/procfile.bash:60): the arguments are joined
      # with spaces, evaluated by bash again (quotes, $VARS, `cmd`, globs, ;|&), and the output
      # split on whitespace (behaviour 3). Reproduced here with bash itself.
      set +u
      # shellcheck disable=SC2046,SC2294 # the re-evaluation and re-splitting are what herokuish does
      set -- $(eval echo "$@")
      if [[ $# -eq 0 ]]; then
        # setuidgid without a program: daemontools' usage error, exit 100
        echo "setuidgid: usage: setuidgid account child" >&2
        exit 100
      fi
    fi
    # A Dockerfile image gets the arguments as they are.
    record_run "$app" run "$@"
    exec -- "$@"
    ;;
  *)
    apps_command "$cmd" "$@"
    status=$?
    [[ $status -eq 127 ]] || exit "$status"
    # shellcheck disable=SC2016 # the backticks are literal, as in Dokku's message (dokku:222-223)
    warn "\`$cmd${*:+ $*}\` is not a dokku command."
    # shellcheck disable=SC2016
    warn 'See `dokku help` for a list of available commands.'
    exit 1
    ;;
esac
