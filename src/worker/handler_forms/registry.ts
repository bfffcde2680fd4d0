/**
 * Every handler form, in the order messages and help texts list them. A new
 * form is a file beside these (a {@linkcode HandlerForm}) and one line here.
 *
 * @module
 */
import type { HandlerForm, HandlerFormFlag } from "./_form.ts";
import { EXEC_FORM } from "./exec.ts";
import { MODULE_FORM } from "./module.ts";

export type { HandlerForm, HandlerFormArgument, HandlerFormFlag, HandlerFormSpec } from "./_form.ts";

/** The handler forms. */
export const HANDLER_FORMS = [
  MODULE_FORM,
  EXEC_FORM,
] as const;

/** A form's config key, also its field in a handler spec: `module`, `exec`. */
export type HandlerFormKey = typeof HANDLER_FORMS[number]["key"];

/** The form named on the command line by the `<handler>` argument; the others are named by their flags. */
export const ARGUMENT_FORM = MODULE_FORM;

/** A form named on the command line by a flag. */
type FlagForm = HandlerForm<HandlerFormKey> & { readonly cli: HandlerFormFlag };

function isFlagForm<F extends HandlerForm<HandlerFormKey>>(form: F): form is F & FlagForm {
  return "flag" in form.cli;
}

/** The forms named on the command line by a flag (`--exec`). */
export const FLAG_FORMS: readonly FlagForm[] = HANDLER_FORMS.filter(isFlagForm);
