/**
 * Secret masking. Every secret value the run learns (keys, tokens, webhook URLs) is registered here,
 * and every line the tool prints or sends passes through {@linkcode Secrets.mask}.
 *
 * @module
 */

/** What a masked secret is replaced with. */
export const MASK = "***";

// values this short would mask ordinary words; no real secret is this short
const MIN_SECRET_LENGTH = 6;

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+@/gi;

/** The registry of secret values of one run. */
export class Secrets {
  #values = new Set<string>();

  /** Registers a secret, with its encoded forms and, for multi-line values, each line. */
  add(value: string | undefined): void {
    if (value === undefined) return;
    const variants = [value, value.trim(), encodeURIComponent(value)];
    if (value.includes("\n")) variants.push(...value.split(/\r?\n/).map((line) => line.trim()));
    // a webhook's token is its path: a log line may show the path without the host
    if (/^https?:\/\//.test(value)) {
      try {
        const url = new URL(value);
        if (url.pathname.length > 1) variants.push(url.pathname + url.search);
      } catch {
        // not a URL after all
      }
    }
    for (const variant of variants) {
      if (variant.length >= MIN_SECRET_LENGTH) this.#values.add(variant);
    }
  }

  /** Replaces every registered secret in `text` with {@linkcode MASK}. */
  mask(text: string): string {
    // longest first, so that a secret containing another one is masked whole
    const values = [...this.#values].sort((a, b) => b.length - a.length);
    let masked = text;
    for (const value of values) masked = masked.replaceAll(value, MASK);
    return maskUrlPasswords(masked);
  }
}

/** Masks the password of every URL in `text`: a secret even when nobody registered it. */
export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, `$1${MASK}@`);
}
