/** `hurah serve` as a process: refusals, a real socket, live events, a clean stop on SIGTERM. */
import { equal, match, ok } from "node:assert/strict";
import { Dispatcher } from "../../mod.ts";
import { buildOpsRoot } from "../_ops_root.ts";
import { runCli, tempRoot } from "../_helpers.ts";
import { startServe } from "../serve/_server.ts";

/** Whether this test run may connect to 127.0.0.1 (`deno task test` grants `--allow-net=127.0.0.1`). */
const NET = Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted";

Deno.test("hurah serve refuses a non-local address without a token, a short token and a bad --listen", async () => {
  await using root = await tempRoot();
  const refused = await runCli(["serve", "--root", root.path, "--listen", "0.0.0.0:8377"]);
  equal(refused.code, 2);
  match(refused.stderr, /refusing to listen on 0\.0\.0\.0 without a token.*--token or HURAH_TOKEN/);
  const short = await runCli(["serve", "--root", root.path, "--listen", "0.0.0.0:8377", "--token", "abc"]);
  equal(short.code, 2);
  match(short.stderr, /at least 16 characters/);
  equal((await runCli(["serve", "--root", root.path, "--listen", "nowhere"])).code, 2);
  const help = await runCli(["serve", "--help"]);
  equal(help.code, 0);
  match(help.stdout, /Usage: hurah serve/);
  match((await runCli(["--help"])).stdout, /serve \[--listen 127\.0\.0\.1:8377\]/);
});

Deno.test({
  name: "hurah serve answers on its port, needs the token when given one, and stops on SIGTERM",
  ignore: !NET,
}, async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  const token = "a-token-of-thirty-two-characters";
  await using server = await startServe(["--root", root.path], { HURAH_TOKEN: token });
  equal(await (await fetch(`${server.url}/healthz`)).text(), "ok\n");
  const denied = await fetch(`${server.url}/metrics`);
  equal(denied.status, 401);
  await denied.body?.cancel();
  const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  equal(metrics.status, 200);
  match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  match(await metrics.text(), /hurah_pending_tasks\{listener="audit",event_type=""\} 3/);
  const status = await server.stop();
  equal(status.code, 0, server.stderr());
  match(server.stderr(), /hurah serve: stopped/);
});

Deno.test({
  name: "hurah serve streams the overview as server-sent events: a dispatch shows within 2 s; SIGTERM ends it",
  ignore: !NET,
}, async () => {
  await using root = await tempRoot();
  await buildOpsRoot(root.path);
  await using server = await startServe(["--root", root.path]);
  const response = await fetch(`${server.url}/events`);
  equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let pending: Promise<ReadableStreamReadResult<string>> | undefined;
  /** Reads events until one holds `pattern`; fails after `ms`. */
  const until = async (pattern: RegExp, ms: number) => {
    const deadline = Date.now() + ms;
    while (!pattern.test(text)) {
      const left = deadline - Date.now();
      ok(left > 0, `no event matching ${pattern} within ${ms} ms:\n${text.slice(-2000)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      pending ??= reader.read();
      const chunk = await Promise.race([
        pending,
        new Promise<"late">((resolve) => timer = setTimeout(resolve, left, "late")),
      ]);
      clearTimeout(timer);
      if (chunk === "late") continue;
      pending = undefined;
      if (chunk.value) text += chunk.value;
      ok(!chunk.done, "the stream ended");
    }
  };
  await until(/event: overview\n/, 5000);
  ok(/<td class="n">1<\/td>/.test(text), "image_scaler has 1 pending");
  text = "";
  const started = Date.now();
  await new Dispatcher(root.path, { durable: false }).dispatch("product/created", { n: 8 });
  // image_scaler goes from 1 to 2 pending, audit from 3 to 4.
  await until(/audit<\/a>[\s\S]*?<td class="n">4<\/td>/, 2000);
  ok(Date.now() - started < 2000);
  // SIGTERM with the stream open: the server ends the stream and exits 0.
  const stopped = server.stop();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read());
  equal((await stopped).code, 0, server.stderr());
});
