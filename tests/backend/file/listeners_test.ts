import { deepEqual, equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { InvalidNameError, ListenerNotFoundError, UnsafePathError } from "../../../src/errors.ts";
import { findListener, listListeners } from "../../../src/backend/file/listeners.ts";
import { tempRoot } from "../../_helpers.ts";

async function mkdirs(root: string, ...paths: string[]) {
  for (const path of paths) await Deno.mkdir(join(root, path), { recursive: true });
}

Deno.test("listListeners() walks the type directories and finds every listener, ordered by id", async () => {
  await using root = await tempRoot();
  await using outside = await tempRoot();
  await mkdirs(
    root.path,
    "audit_listener/inbox",
    "product/created/image_scaler_listener/inbox",
    "product/created/mailer_listener",
    "product/indexer_listener",
    "product/created/deeper/x_listener",
    ".hidden/ghost_listener", // not a valid event type segment
    "bad name/ghost_listener",
  );
  await mkdirs(outside.path, "linked_listener", "type/ghost_listener");
  await Deno.writeTextFile(join(root.path, "file_listener"), "a file, not a listener");
  await Deno.symlink(join(outside.path, "linked_listener"), join(root.path, "product", "linked_listener"));
  await Deno.symlink(join(outside.path, "type"), join(root.path, "linked_type"));
  const found = await listListeners(root.path);
  deepEqual(
    found.map((listener) => [listener.eventType, listener.name, listener.dir.slice(root.path.length + 1)]),
    [
      ["", "audit", "audit_listener"],
      ["product/created/deeper", "x", "product/created/deeper/x_listener"],
      ["product/created", "image_scaler", "product/created/image_scaler_listener"],
      ["product/created", "mailer", "product/created/mailer_listener"],
      ["product", "indexer", "product/indexer_listener"],
    ],
  );
});

Deno.test("listListeners() refuses a missing root", async () => {
  await using root = await tempRoot();
  await rejects(() => listListeners(join(root.path, "missing")), UnsafePathError);
});

Deno.test("findListener() resolves an id to its directory without following links", async () => {
  await using root = await tempRoot();
  await using outside = await tempRoot();
  await mkdirs(root.path, "audit_listener", "product/created/image_scaler_listener");
  const scaler = await findListener(root.path, "product/created/image_scaler");
  deepEqual(scaler, {
    name: "image_scaler",
    eventType: "product/created",
    id: "product/created/image_scaler",
    dir: join(root.path, "product/created/image_scaler_listener"),
  });
  equal((await findListener(root.path, "audit")).dir, join(root.path, "audit_listener"));
  await rejects(() => findListener(root.path, "product/created/mailer"), (error: unknown) => {
    equal(error instanceof ListenerNotFoundError, true);
    equal((error as ListenerNotFoundError).listener, "product/created/mailer");
    equal((error as ListenerNotFoundError).path, join(root.path, "product/created/mailer_listener"));
    return true;
  });
  await rejects(() => findListener(root.path, "a//b"), InvalidNameError);
  await mkdirs(outside.path, "x/linked_listener");
  await Deno.symlink(join(outside.path, "x"), join(root.path, "linked"));
  await rejects(() => findListener(root.path, "linked/linked"), UnsafePathError);
});
