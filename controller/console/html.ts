/**
 * The console's one way to build HTML: the `html` tagged template escapes every interpolated value
 * unless it is already `Html` (the output of another `html` call), so user-supplied text — a reason,
 * a ticket, a note, a param — can only ever reach a page as text. Nothing else in the console writes
 * markup from strings: no `+` on raw input, no `innerHTML`.
 */

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Escapes text for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (ch) => ESCAPES[ch]!);
}

/** Markup known to be safe: built only by `html`, `join` and the escaping above. */
export class Html {
  readonly #text: string;
  private constructor(text: string) {
    this.#text = text;
  }
  /** Only for this module: a string that is markup by construction. */
  static trusted(text: string): Html {
    return new Html(text);
  }
  toString(): string {
    return this.#text;
  }
}

/** A value an `html` template may hold: text (escaped), markup, a list of either, or nothing. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/** `html\`<p>${reason}</p>\``: escapes each value; `Html` values and lists of them pass as markup. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return Html.trusted(out);
}

/** Joins markup (or text, escaped) with a separator. */
export function join(items: readonly HtmlValue[], separator: HtmlValue = ""): Html {
  return Html.trusted(items.map(render).join(render(separator)));
}
