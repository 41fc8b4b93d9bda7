/**
 * HTML escaped by construction. Markup is written as `html` tagged templates: the literal parts are
 * the program's own markup, and every value put into them is escaped unless it is itself SafeHtml
 * (made by `html`, so already escaped). Nothing else makes SafeHtml, so a value from the registry or
 * the logs cannot reach the page unescaped by forgetting a call.
 *
 * Values belong in element content or in double-quoted attribute values; escapeHtml escapes `&`, `<`,
 * `>`, `"` and `'`, which makes both safe. Never interpolate into a tag or attribute name, an unquoted
 * attribute, a `<style>` or a `<script>`.
 *
 * Why not preact + preact-render-to-string: it writes `<meta ... />` and leaves `>` and `'` unescaped
 * in text, so the notices and the report would change bytes (and their escaping tests, which expect
 * `&lt;script&gt;`) for no gain in safety; this module is a few lines, adds nothing to the Lambda
 * bundles, and the type checker enforces the same rule JSX would.
 */
import { escapeHtml } from './format.js';

const TOKEN: unique symbol = Symbol('SafeHtml');

/** Markup that is safe to write as it is: made only by `html`. */
export class SafeHtml {
  readonly #markup: string;
  /** Not for use outside this module: `TOKEN` is not exported. */
  constructor(token: typeof TOKEN, markup: string) {
    if (token !== TOKEN) throw new TypeError('SafeHtml is made by the html tag only');
    this.#markup = markup;
  }
  toString(): string {
    return this.#markup;
  }
}

/** What can be put into a template: text and numbers are escaped; null, undefined and false write nothing. */
export type HtmlValue = SafeHtml | string | number | bigint | false | null | undefined | readonly HtmlValue[];

function write(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(write).join('');
  return escapeHtml(String(value));
}

/** A tagged template whose interpolated values are escaped (arrays are written one after another). */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += write(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(TOKEN, out);
}

/** The items written one after another with `separator` between them. */
export function joinHtml(items: readonly HtmlValue[], separator: HtmlValue = ''): SafeHtml {
  return new SafeHtml(TOKEN, items.map(write).join(write(separator)));
}
