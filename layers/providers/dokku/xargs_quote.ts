/**
 * Quoting of a command for Dokku's SSH interface, which splits SSH_ORIGINAL_COMMAND with GNU xargs.
 *
 * GNU xargs (without -0/-d) splits on blanks and newlines; outside quotes a backslash escapes the
 * next character (a newline too); inside '...' or "..." everything is literal except the closing
 * quote, and a quoted string may not contain a newline. So each argument becomes:
 * - unchanged, when it only holds characters no splitter treats specially (`ps:restart`, `web=2`);
 *   real Dokku splits most commands on whitespace only, so plain words must stay bare,
 * - `''` when it is empty,
 * - otherwise single-quoted runs, with `'` written as `"'"` and a newline as backslash-newline:
 *   `it's` → `'it'"'"'s'`, `a⏎b` → `'a'\⏎'b'`.
 * @module
 */

const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Joins arguments into one command string that GNU xargs splits back into exactly these arguments. */
export function xargsQuote(args: readonly string[]): string {
  return args.map(quoteOne).join(" ");
}

function quoteOne(arg: string, index: number): string {
  if (arg.includes("\0")) {
    throw new TypeError(`Cannot quote argument ${index} for xargs: it contains a NUL character`);
  }
  if (arg === "") return "''";
  if (PLAIN.test(arg)) return arg;
  let out = "";
  let open = false;
  for (const ch of arg) {
    if (ch === "'" || ch === "\n") {
      if (open) out += "'";
      open = false;
      out += ch === "'" ? `"'"` : "\\\n";
    } else {
      if (!open) out += "'";
      open = true;
      out += ch;
    }
  }
  return open ? `${out}'` : out;
}
