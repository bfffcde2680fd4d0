/**
 * The handler forms in help texts and messages: usage lines, the handler
 * argument's and flags' help, the list of config keys. Each is made from the
 * registry, so a new form appears in them all.
 *
 * @module
 */
import { ARGUMENT_FORM, FLAG_FORMS, HANDLER_FORMS, type HandlerForm } from "../worker/handler_forms/registry.ts";

/** One form's arguments: `<handler_name> <event_type> <handler> [event_root]`, `... --exec <command> ...`. */
export function handlerUsage(form: HandlerForm, root = "event_root"): string {
  const handler = "flag" in form.cli ? `--${form.cli.flag} <${form.cli.value}>` : `<${form.cli.argument}>`;
  return `<handler_name> <event_type> ${handler} [${root}]`;
}

/** The `Usage:` lines of `hurah run` and `hurah watch`: one per handler form, then `--config`. */
export function usageLines(command: string): string {
  const forms = [...HANDLER_FORMS.map((form) => handlerUsage(form)), "--config <file> [event_root]"];
  return forms.map((args, k) => `${k === 0 ? "Usage:" : "      "} hurah ${command} ${args} [options]`).join("\n");
}

/** The arguments of the main help's `run` and `watch` lines: `<handler_name> <event_type> <handler> [root]`. */
export function mainUsage(): string {
  return handlerUsage(ARGUMENT_FORM, "root");
}

/** The help line of the handler argument (`handler ...`), the text from `column` on. */
export function argumentHelp(column: number): string {
  return helpEntry(ARGUMENT_FORM.cli.argument, ARGUMENT_FORM.cli.help, column);
}

/** The help lines of the handler flags (`--exec COMMAND ...`), the text from `column` on; `details` adds more. */
export function flagHelp(column: number, details: boolean): string {
  return FLAG_FORMS.map(({ cli }) =>
    helpEntry(
      `--${cli.flag} ${cli.value.toUpperCase()}`,
      details ? `${cli.summary}: ${cli.details}` : cli.summary,
      column,
    )
  ).join("");
}

/** Help text width: an 80-column terminal. */
const WIDTH = 80;

/** `  <term>` then `text` from `column` on, wrapped at {@linkcode WIDTH} and indented to `column`. */
function helpEntry(term: string, text: string, column: number): string {
  const rows: string[][] = [[]];
  for (const word of text.split(" ")) {
    const row = rows[rows.length - 1];
    if (row.length > 0 && column + [...row, word].join(" ").length > WIDTH) rows.push([word]);
    else row.push(word);
  }
  return rows.map((row, k) => (k === 0 ? `  ${term}`.padEnd(column) : " ".repeat(column)) + row.join(" ") + "\n")
    .join("");
}

/** `a`, `a and b`, `a, b and c`. */
export function listed(items: string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(", ")} and ${items.at(-1)}` : items.join("");
}

/** The config keys of the forms, for "needs exactly one of": `'module' (a module path or URL) and 'exec' (a shell command)`. */
export function formChoices(): string {
  return listed(HANDLER_FORMS.map((form) => `'${form.key}' (${form.what})`));
}
