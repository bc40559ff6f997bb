/**
 * Handing Heroku's git server the API key: a credential helper that reads it from the environment,
 * so that it is never in a URL, an argv, a log line or a file.
 *
 * @module
 */

/** The environment that hands git the API key through a credential helper, never an argv. */
export function gitCredentialEnv(apiKey: string): Record<string, string> {
  return {
    // GIT_CONFIG_COUNT config outranks the user's files: the empty helper drops any stored ones
    GIT_CONFIG_COUNT: "2",
    GIT_CONFIG_KEY_0: "credential.helper",
    GIT_CONFIG_VALUE_0: "",
    GIT_CONFIG_KEY_1: "credential.helper",
    GIT_CONFIG_VALUE_1:
      '!f() { test "$1" = get || exit 0; echo username=heroku; echo "password=$HEROKU_API_KEY"; }; f',
    HEROKU_API_KEY: apiKey,
  };
}
