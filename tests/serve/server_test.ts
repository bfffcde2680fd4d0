/** The dashboard's pages, actions and security, through `Dashboard.handle()` (no socket), on a real event root. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, NotSupportedError, pause, runOnce, Task, type TaskContext } from "../../mod.ts";
import { connect } from "../../src/backend/connect.ts";
import { Dashboard, type DashboardOptions } from "../../src/serve/server.ts";
import { escapeHtml } from "../../src/serve/_html.ts";
import { FAILURE_WINDOW_MS, FAILURES_ALLOWED, Throttle } from "../../src/serve/_auth.ts";
import { buildOpsRoot } from "../_ops_root.ts";
import { namesIn, tempRoot } from "../_helpers.ts";

const TOKEN = "s3cret-token-for-tests-0123456789";

/** A dashboard on `root`, disposed (its scanner and streams closed) with `await using`. */
function dashboard(root: string, options: Partial<DashboardOptions> = {}): Dashboard & AsyncDisposable {
  const board = new Dashboard({ operations: connect({ root }).operations, root, ...options });
  return Object.assign(board, { [Symbol.asyncDispose]: () => board.close() });
}

async function get(board: Dashboard, path: string, headers: Record<string, string> = {}, client = "local") {
  const response = await board.handle(new Request(`http://127.0.0.1${path}`, { headers }), client);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function post(
  board: Dashboard,
  path: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
  client = "local",
) {
  const response = await board.handle(
    new Request(`http://127.0.0.1${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(form).toString(),
    }),
    client,
  );
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The CSRF token a page's forms carry. */
function csrfOf(page: string): string {
  const token = /name="csrf" value="([0-9a-f]+)"/.exec(page)?.[1];
  ok(token, "the page has a form with a CSRF token");
  return token;
}

Deno.test("Dashboard: the overview lists every listener with its state, counts and security headers", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using board = dashboard(root.path);
  const page = await get(board, "/");
  equal(page.status, 200);
  match(page.text, /href="\/listener\/audit">audit</);
  match(page.text, /failing at #5/);
  match(page.text, /href="\/listener\/product\/created\/image_scaler"/);
  const csp = page.headers.get("content-security-policy") ?? "";
  match(csp, /script-src 'self'/);
  ok(!csp.includes("unsafe-inline"), csp);
  equal(page.headers.get("x-frame-options"), "DENY");
  ok(!/<script>/.test(page.text) && !/ style=/.test(page.text), "no inline script or style");
  equal((await get(board, "/healthz")).text, "ok\n");
  match((await get(board, "/assets/app.js")).text, /EventSource/);
});

Deno.test("Dashboard: the listener page shows pending tasks, in flight with owner and lease, recent errors", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using board = dashboard(root.path);
  const audit = await get(board, "/listener/audit");
  equal(audit.status, 200);
  match(audit.text, /Pending \(first 3 of 3\)/);
  match(audit.text, /Recent errors \(latest 3 of 3\)/);
  match(audit.text, /audit exploded/);
  match(audit.text, /href="\/task\/audit\/5"/);
  const scaler = await get(board, "/listener/product/created/image_scaler");
  match(scaler.text, /hostA-12345-1a2b3c/);
  match(scaler.text, /<td>live<\/td>/);
  match(scaler.text, /<td>missing<\/td>/);
  const task = await get(board, "/task/audit/3");
  equal(task.status, 200);
  match(task.text, /in error\//);
  match(task.text, /class="timeline"/);
  match(task.text, /&quot;audit&quot;: &quot;throw&quot;/, "the payload, pretty-printed and escaped");
  equal((await get(board, "/task/audit/99")).status, 404);
});

Deno.test("Dashboard: a listener paused by an operator shows it, apart from its FAILURE state", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await pause(root.path, { listener: "audit", reason: "fixing <the> relay", by: "alice" });
  await using board = dashboard(root.path);
  const page = await get(board, "/");
  match(page.text, /<span class="state paused" title="by alice on [^"]+: fixing &lt;the&gt; relay">paused<\/span>/);
  match(page.text, /failing at #5/, "the tasks' state is still shown");
  equal(page.text.match(/class="state paused"/g)?.length, 1, "only the paused listener");
  match((await get(board, "/listener/audit")).text, /<span class="muted">paused<\/span><b>since \S+ by alice<\/b>/);
});

Deno.test("Dashboard: path parameters go through the name checks: traversal is 400, unknown is 404", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using board = dashboard(root.path);
  for (
    const path of [
      "/listener/..%2f..%2fetc",
      "/listener/../../etc",
      "/task/..%2f..%2fetc/1",
      "/listener/a%2f..%2f..%2fetc",
      "/task/audit%2f..%2f..%2fetc/1",
    ]
  ) {
    const answer = await get(board, path);
    ok(answer.status === 400 || answer.status === 404, `${path}: ${answer.status}`);
    ok(!answer.text.includes("root:"), "nothing of /etc");
  }
  equal((await get(board, "/listener/..%2f..%2fetc")).status, 400);
  equal((await get(board, "/listener/nobody")).status, 404);
  equal((await get(board, "/listener/%zz")).status, 400);
  equal((await get(board, "/task/audit/0")).status, 400);
  equal((await get(board, "/task/audit/abc")).status, 400);
  equal((await get(board, "/nothing")).status, 404);
});

Deno.test("Dashboard: hostile payloads, failure messages and event types render as text", async () => {
  await using root = await tempRoot();
  const hostile = `<script>alert(1)</script>"'></textarea><img src=x onerror=alert(2)>`;
  const listener = {
    name: "victim",
    eventType: "hostile",
    durable: false,
    handler: (context: TaskContext) => {
      throw new Error(`boom ${(context.payload as { text: string }).text}`);
    },
  };
  await runOnce(root.path, listener);
  const dispatcher = new Dispatcher(root.path, { durable: false });
  await dispatcher.dispatch("hostile", { text: hostile });
  await dispatcher.dispatch("hostile", { text: hostile, [hostile]: hostile });
  await runOnce(root.path, listener);
  await dispatcher.dispatch("hostile", { text: hostile });
  await runOnce(root.path, { ...listener, handler: () => Task.FAILURE });
  await using board = dashboard(root.path);
  for (
    const path of [
      "/",
      "/listener/hostile/victim",
      "/task/hostile/victim/1",
      "/task/hostile/victim/2",
      "/task/hostile/victim/3",
    ]
  ) {
    const page = await get(board, path);
    equal(page.status, 200, path);
    ok(!page.text.includes("<script>alert"), `${path} holds a live <script>`);
    ok(!page.text.includes("<img src=x"), `${path} holds a live <img>`);
    ok(!page.text.includes("</textarea>"), `${path} holds a raw </textarea>`);
  }
  const task = await get(board, "/task/hostile/victim/2");
  ok(task.text.includes(escapeHtml(JSON.stringify(hostile).slice(1, -1))), "the payload is shown, escaped");
});

Deno.test("Dashboard: with a token, requests need Bearer or the login session; /healthz does not", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using board = dashboard(root.path, { token: TOKEN });
  for (const path of ["/", "/listener/audit", "/task/audit/3", "/metrics", "/events"]) {
    equal((await get(board, path)).status, 401, path);
    // From another client: five wrong tokens are all this one may send within a minute.
    equal((await get(board, path, { authorization: "Bearer wrong-token-wrong-token" }, "guesser")).status, 401, path);
  }
  equal((await get(board, "/healthz")).status, 200);
  equal((await get(board, "/", { authorization: `Bearer ${TOKEN}` })).status, 200);
  equal((await get(board, "/metrics", { authorization: `Bearer ${TOKEN}` })).status, 200);
  equal((await post(board, "/login", { token: "wrong" })).status, 401);
  const login = await post(board, "/login", { token: TOKEN });
  equal(login.status, 303);
  const cookie = login.headers.get("set-cookie") ?? "";
  match(cookie, /^hurah_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict/);
  const session = { cookie: cookie.split(";")[0] };
  const page = await get(board, "/", session);
  equal(page.status, 200);
  const logout = await post(board, "/logout", { csrf: csrfOf(page.text) }, session);
  equal(logout.status, 303);
  equal((await get(board, "/", session)).status, 401, "the session ended");
});

Deno.test("Dashboard: a client that sent five wrong tokens within a minute waits, the right token refused too", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using board = dashboard(root.path, { token: TOKEN });
  const session = { cookie: (await post(board, "/login", { token: TOKEN })).headers.get("set-cookie")!.split(";")[0] };
  for (let k = 0; k < FAILURES_ALLOWED - 1; k++) {
    equal((await post(board, "/login", { token: `wrong-${k}` }, {}, "guesser")).status, 401);
  }
  const bearer = { authorization: "Bearer wrong-token-wrong-token" };
  equal((await get(board, "/metrics", bearer, "guesser")).status, 401, "the fifth wrong token, as a Bearer");
  for (
    const refused of [
      await post(board, "/login", { token: TOKEN }, {}, "guesser"),
      await get(board, "/", { authorization: `Bearer ${TOKEN}` }, "guesser"),
    ]
  ) {
    equal(refused.status, 429);
    const wait = Number(refused.headers.get("retry-after"));
    ok(wait >= 1 && wait <= 60, `Retry-After: ${wait}`);
  }
  equal((await get(board, "/", session, "guesser")).status, 200, "a session made before still works");
  equal((await post(board, "/login", { token: TOKEN }, {}, "other")).status, 303, "another client logs in");
  equal((await get(board, "/", { authorization: `Bearer ${TOKEN}` })).status, 200);
});

Deno.test("Throttle: counts wrong tokens per client over a sliding minute", () => {
  const throttle = new Throttle();
  const start = 1_000_000;
  for (let k = 0; k < FAILURES_ALLOWED; k++) {
    equal(throttle.waitMs("a", start + k * 1000), 0, `before failure ${k + 1}`);
    throttle.failed("a", start + k * 1000);
  }
  equal(throttle.waitMs("a", start + 5000), FAILURE_WINDOW_MS - 5000, "until the first failure is a minute old");
  equal(throttle.waitMs("b", start + 5000), 0, "another client is not held");
  equal(throttle.waitMs("a", start + FAILURE_WINDOW_MS), 0, "the first failure has left the window");
  throttle.failed("a", start + FAILURE_WINDOW_MS);
  equal(throttle.waitMs("a", start + FAILURE_WINDOW_MS), 1000, "five failures in the window again");
});

Deno.test("Dashboard: an action needs a POST with the CSRF token; a GET changes nothing", async () => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  await using board = dashboard(root.path);
  const confirm = await get(board, "/confirm/requeue?listener=audit&sequence=3");
  equal(confirm.status, 200);
  match(confirm.text, /requeue task #3 of audit/);
  equal((await get(board, "/actions/requeue?listener=audit&sequence=3")).status, 404, "a GET is no action");
  deepEqual(namesIn(join(audit, "error")).filter((name) => name === "3.json"), ["3.json"], "nothing moved");
  equal((await post(board, "/actions/requeue", { listener: "audit", sequence: "3" })).status, 403);
  equal((await post(board, "/actions/requeue", { listener: "audit", sequence: "3", csrf: "00" })).status, 403);
  const huge = await post(board, "/actions/requeue", { listener: "audit", sequence: "3", pad: "x".repeat(70_000) });
  equal(huge.status, 413);
  ok(namesIn(join(audit, "error")).includes("3.json"), "still nothing moved");
  const done = await post(board, "/actions/requeue", { listener: "audit", sequence: "3", csrf: csrfOf(confirm.text) });
  equal(done.status, 200);
  match(done.text, /Put back into the inbox of audit: #3/);
  ok(namesIn(join(audit, "inbox")).includes("3.json"));
  const prune = await get(board, "/confirm/prune?listener=audit&older_than=0s&archive=1");
  match(prune.text, /That removes 1 files now/);
  ok(namesIn(join(audit, "archive")).includes("1.json"), "the confirmation was a dry run");
  const pruned = await post(board, "/actions/prune", {
    listener: "audit",
    older_than: "0s",
    archive: "1",
    csrf: csrfOf(prune.text),
  });
  match(pruned.text, /Removed 1 files/);
  deepEqual(namesIn(join(audit, "archive")), []);
});

Deno.test("Dashboard: --read-only shows no action and refuses every one", async () => {
  await using root = await tempRoot();
  const { audit } = await buildOpsRoot(root.path);
  await using board = dashboard(root.path, { readOnly: true });
  const page = await get(board, "/listener/audit");
  ok(!page.text.includes("/confirm/"), "no action link");
  ok(!page.text.includes("<form"), "no form");
  equal((await get(board, "/confirm/requeue?listener=audit&sequence=3")).status, 403);
  equal((await post(board, "/actions/requeue", { listener: "audit", sequence: "3", csrf: "00" })).status, 403);
  ok(namesIn(join(audit, "error")).includes("3.json"));
});

Deno.test("Dashboard: without a token, a request by another host name than a loopback one gets 421", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using board = dashboard(root.path);
  for (const host of ["evil.example", "10.0.0.1", "localhost.evil.example"]) {
    const answer = await board.handle(new Request(`http://${host}:8377/listener/audit`));
    equal(answer.status, 421, host);
    ok(!(await answer.text()).includes("csrf"));
  }
  for (const host of ["127.0.0.1:8377", "localhost:8377", "[::1]:8377", "127.1.2.3"]) {
    equal((await board.handle(new Request(`http://${host}/`))).status, 200, host);
  }
  await using guarded = dashboard(root.path, { token: TOKEN });
  const remote = await guarded.handle(
    new Request("http://queue1.example/", { headers: { authorization: `Bearer ${TOKEN}` } }),
  );
  equal(remote.status, 200, "with a token, any host name");
});

Deno.test("Dashboard: an operation the backend does not offer (NotSupportedError) is a 501 page, not a 500", async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const operations = connect({ root: root.path }).operations;
  const unsupported = new NotSupportedError("inspecting a task", "this backend");
  const limited = Object.assign(Object.create(operations), { inspect: () => Promise.reject(unsupported) });
  const errors: Error[] = [];
  const board = new Dashboard({ operations: limited, root: root.path, onError: (error) => errors.push(error) });
  const answer = await get(board, "/task/audit/3");
  equal(answer.status, 501);
  match(answer.text, /inspecting a task is not supported by this backend/);
  deepEqual(errors, []);
  await board.close();
});
