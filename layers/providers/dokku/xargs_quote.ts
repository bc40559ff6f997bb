/**
 * GNU xargs quoting of a command. The provider no longer sends quoted words: Dokku <= 0.33 splits
 * non-config commands on whitespace and keeps quotes literally, Dokku >= 0.34's `xargs -n 1` passes
 * each word through /bin/echo, and herokuish's /exec evaluates the words again, so no quoting comes
 * back whole everywhere (see run_args.ts). The sandbox tests use it to show what quoting does.
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
