/**
 * Which words reach a program exactly through `dokku run`, on every Dokku the provider supports,
 * and the command string that sends them.
 *
 * A word goes through up to three hands before the program gets it:
 * 1. the `dokku` entry script's split of the SSH command: on Dokku >= 0.34 `xargs -n 1`, which runs
 *    /bin/echo once per word (dokku/dokku `dokku` line 116, commit 91c8e62da), on Dokku <= 0.33 a
 *    split on whitespace that keeps quotes literal (v0.33.x `dokku` line 114);
 * 2. Dokku's `parse_args` (plugins/common/functions line 479), which reads `--app X` and `--trace`
 *    wherever they are;
 * 3. on a buildpack (herokuish) app, `/exec`, which runs `exec setuidgid USER $(eval echo "$@")`
 *    (gliderlabs/herokuish include/procfile.bash line 60): the words are joined, evaluated by bash
 *    again and split on whitespace.
 *
 * The provider does not know the server's version or builder before it connects, and refuses
 * bad input before touching the server, so it accepts only words that come through all of them
 * unchanged, and sends them bare, separated by single spaces: no quoting survives step 1 on Dokku
 * <= 0.33, and none is needed for such words.
 * @module
 */

/** One word Dokku would change, and why. */
export interface RunArgProblem {
  /** The word as given. */
  word: string;
  /** Why it cannot be sent, as a sentence fragment. */
  reason: string;
}

// characters bash's `eval` in herokuish's /exec would interpret anywhere in a word
const EVAL_SPECIAL = /[$`\\'"()&|;<>*?[\]]/;
// /bin/echo takes a word made only of these options as options (Dokku >= 0.34's xargs -n 1)
const ECHO_OPTIONS = /^-[neE]+$/;

/** The problems of `words` as arguments of `dokku run`; empty when every word arrives exactly. */
export function runArgProblems(words: readonly string[]): RunArgProblem[] {
  const problems: RunArgProblem[] = [];
  for (const word of words) {
    const reason = problemOf(word);
    if (reason) problems.push({ word, reason });
  }
  return problems;
}

function problemOf(word: string): string | undefined {
  if (word === "") return "an empty word is dropped or kept as '' depending on the Dokku version";
  // deno-lint-ignore no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(word)) {
    return "Dokku splits words on whitespace (and herokuish splits them again)";
  }
  if (word === "--app" || word === "--trace") {
    return "Dokku reads it anywhere in a command (--app sends the command to another app, " +
      "--trace prints Dokku's internals)";
  }
  if (ECHO_OPTIONS.test(word) || word === "--help" || word === "--version") {
    return "Dokku >= 0.34 passes each word through /bin/echo, which takes it as its own option";
  }
  if (EVAL_SPECIAL.test(word)) {
    return "a buildpack app's /exec evaluates the command with bash again " +
      "($, `, \\, quotes, ( ) & | ; < > * ? [ ] are shell syntax there)";
  }
  if (/^[~#]/.test(word)) return "bash's eval in a buildpack app's /exec expands or drops it";
  if (word.includes("{") && /,|\.\./.test(word)) {
    return "bash's eval in a buildpack app's /exec expands braces with a comma or ..";
  }
  return undefined;
}

/** One line naming each refused word of `variable`, or undefined when all words are fine. */
export function describeRunArgProblems(
  variable: string,
  words: readonly string[],
): string | undefined {
  const problems = runArgProblems(words);
  if (problems.length === 0) return undefined;
  return `${variable}: cannot send ${
    problems.map((p) => `"${p.word.replaceAll("\n", "\\n")}" (${p.reason})`).join("; ")
  } through dokku run`;
}
