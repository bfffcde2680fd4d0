/**
 * HTML built by a tagged template that escapes every value put in it: a
 * value from a task file (a payload, a failure message, a name) can only
 * ever be text. Markup made here is wrapped in {@linkcode SafeHtml}, which is
 * put in as it is.
 *
 * @module
 */

/** Markup that is put into a template as it is. */
export class SafeHtml {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** The characters that mean something in HTML text and in quoted attribute values. */
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML text and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]);
}

/** A value of a template: escaped text, markup as it is, lists joined, nothing for `null`, `undefined` and `false`. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.text;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/** The template tag: `html\`<td>${name}</td>\`` escapes `name`. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let text = strings[0];
  for (let k = 0; k < values.length; k++) text += render(values[k]) + strings[k + 1];
  return new SafeHtml(text);
}

/** A path segment or query value for a link: percent-encoded, then escaped by the template. */
export function linkPart(text: string): string {
  return encodeURIComponent(text);
}

/** A listener id in a path (`/listener/product/created/image_scaler`): each segment encoded, the slashes kept. */
export function listenerPath(id: string): string {
  return id.split("/").map(encodeURIComponent).join("/");
}
