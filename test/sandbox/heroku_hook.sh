#!/usr/bin/env bash
# pre-receive hook of the Heroku stand-in (see heroku.ts): prints Heroku-like build output for a push
# to main or master, fails the build on demand, and records every ref update.
#
# Usage (from hooks/pre-receive): heroku_hook.sh STATE_DIR APP
#
# A build whose Procfile declares a release phase waits for it, as Heroku's push does: "Running
# release command...", its output, then "Waiting for release.... done" or "failed".
#
# STATE_DIR holds: pushes.log (one line per ref update: app TAB old TAB new TAB ref TAB outcome),
# api_port and token (to create the release), apps/<app>/stack, apps/<app>/build_delay (seconds),
# apps/<app>/fail_next_build (present: the next build fails with its text as the message).
set -uo pipefail

STATE="$1"
APP="$2"

# Asks the stand-in to create the slug and release (HTTP/1.0 over bash's /dev/tcp, so the hook needs
# no curl), like Heroku's build does before the push completes; prints the new version.
release() {
  local commit="$1" file="$2" length response
  length="$(($(wc -c <"$file")))"
  exec 3<>"/dev/tcp/127.0.0.1/$(cat "$STATE/api_port")" || return 1
  {
    printf 'POST /_standin/apps/%s/builds?commit=%s HTTP/1.0\r\n' "$APP" "$commit"
    printf 'Host: 127.0.0.1\r\nX-Standin-Token: %s\r\n' "$(cat "$STATE/token")"
    printf 'Content-Length: %s\r\n\r\n' "$length"
    cat "$file"
  } >&3
  response="$(cat <&3)"
  exec 3<&-
  [[ "$response" == "HTTP/1."?" 201"* ]] || return 1
  printf '%s\n' "${response##*$'\n'}"
}

# Waits for the release phase of version $1 like Heroku's push does, printing the release command's
# output as it comes, and sets RELEASE_STATUS to "done" or "failed".
wait_release() {
  local version="$1" line status=failed headers=1
  exec 4<>"/dev/tcp/127.0.0.1/$(cat "$STATE/api_port")" || return 1
  printf 'GET /_standin/apps/%s/releases/%s/wait HTTP/1.0\r\nHost: 127.0.0.1\r\n' "$APP" "$version" >&4
  printf 'X-Standin-Token: %s\r\n\r\n' "$(cat "$STATE/token")" >&4
  while IFS= read -r line <&4 || [[ -n "$line" ]]; do
    line="${line%$'\r'}"
    if ((headers)); then
      [[ -z "$line" ]] && headers=0
      continue
    fi
    if [[ "$line" == $'\001 '* ]]; then
      [[ "${line#$'\001 '}" == succeeded ]] && status="done"
      continue
    fi
    printf '%s\n' "$line"
  done
  exec 4<&-
  RELEASE_STATUS="$status"
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$APP" "$1" "$2" "$3" "$4" >>"$STATE/pushes.log"; }

status=0
while read -r oldrev newrev refname; do
  if [[ "$newrev" =~ ^0+$ ]]; then
    record "$oldrev" "$newrev" "$refname" deleted
    continue
  fi
  if [[ "$refname" != "refs/heads/main" && "$refname" != "refs/heads/master" ]]; then
    printf 'Pushed to non-deployable branch, not compiling.\n'
    record "$oldrev" "$newrev" "$refname" ignored
    continue
  fi
  stack="$(cat "$STATE/apps/$APP/stack" 2>/dev/null || echo heroku-24)"
  printf 'Building source:\n\n'
  printf -- '-----> Building on the %s stack\n' "${stack^}"
  printf -- '-----> Using buildpack: heroku/ruby\n'
  printf -- '-----> Ruby app detected\n'
  printf -- '-----> Installing dependencies using bundler\n'
  printf -- '       Running: BUNDLE_WITHOUT=development:test bundle install -j4\n'
  if [[ -s "$STATE/apps/$APP/build_delay" ]]; then
    sleep "$(cat "$STATE/apps/$APP/build_delay")"
  fi
  # Claim the failure flag atomically, so that exactly one push consumes it.
  flag="$STATE/apps/$APP/fail_next_build.$$"
  if mv "$STATE/apps/$APP/fail_next_build" "$flag" 2>/dev/null; then
    message="$(cat "$flag")"
    rm -f "$flag"
    printf '       %s\n' "${message:-An error occurred while installing gems}"
    printf ' !\n !     Failed to install gems via Bundler.\n !\n'
    printf ' !     Push rejected, failed to compile Ruby app.\n\n'
    printf ' !     Push failed\n'
    record "$oldrev" "$newrev" "$refname" rejected
    status=1
    continue
  fi
  types="web"
  procfile_file="$(mktemp "$STATE/procfile.XXXXXX")"
  if git show "$newrev:Procfile" >"$procfile_file" 2>/dev/null; then
    procfile="$(cat "$procfile_file")"
    types="$(printf '%s\n' "$procfile" | sed -n 's/^\([A-Za-z0-9_-]*\):.*/\1/p' | paste -sd, - |
      sed 's/,/, /g')"
  fi
  printf -- '-----> Discovering process types\n'
  printf -- '       Procfile declares types -> %s\n\n' "${types:-web}"
  printf -- '-----> Compressing...\n'
  printf -- '       Done: 42.1M\n'
  printf -- '-----> Launching...\n'
  if ! answer="$(release "$newrev" "$procfile_file")"; then
    printf ' !     Release failed: %s\n' "$answer"
    rm -f "$procfile_file"
    record "$oldrev" "$newrev" "$refname" rejected
    status=1
    continue
  fi
  version="${answer%% *}"
  printf -- '       Released v%s\n' "$version"
  printf -- '       https://%s.herokuapp.com/ deployed to Heroku\n\n' "$APP"
  printf 'Verifying deploy... done.\n'
  rm -f "$procfile_file"
  if [[ "$answer" == *" release" ]]; then
    # the push lasts until the release phase ends; git updates the ref afterwards, failed or not
    printf 'Running release command...\n\n'
    RELEASE_STATUS=failed
    wait_release "$version"
    printf 'Waiting for release.... %s.\n' "$RELEASE_STATUS"
  fi
  record "$oldrev" "$newrev" "$refname" accepted
done
exit "$status"
