import { resolve } from "node:path";
import type { HandlerLike } from "../handler.ts";
import { loadHandler } from "../load_handler.ts";
import type { HandlerForm, HandlerFormArgument } from "./_form.ts";

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * A module whose default export is a handler (`loadHandler()`): `module` in a
 * config file, the `<handler>` argument on the command line.
 */
export const MODULE_FORM: HandlerForm<"module"> & { readonly cli: HandlerFormArgument } = {
  key: "module",
  what: "a module path or URL",
  cli: {
    argument: "handler",
    help: "a module path or URL whose default export is a Handler subclass, a handler object or a function",
  },
  fromConfig: (value, base) => ({ value: SCHEME.test(value) ? value : resolve(base, value) }),
  absolute: (value) => SCHEME.test(value) ? value : resolve(value),
  build: async ({ value, maxAttempts }): Promise<HandlerLike> => {
    const handler = await loadHandler(value);
    if (maxAttempts === undefined) return handler;
    return {
      handleTask: (context) => handler.handleTask(context),
      maxAttempts: () => maxAttempts,
      ...(handler.retryDelay ? { retryDelay: (attempt: number) => handler.retryDelay!(attempt) } : {}),
    };
  },
};
