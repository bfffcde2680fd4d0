/**
 * Acceptance: the dashboard in a real browser, Debian's chromium driven by
 * playwright-core (a test-only dependency, imported here only). Each page's
 * screenshot goes to a temporary folder, and the test reads the page's text.
 * Without /usr/bin/chromium the test says "skipped: no chromium".
 *
 * @module
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { Dispatcher, runOnce, Task } from "../../mod.ts";
import { buildOpsRoot } from "../_ops_root.ts";
import { killQuietly, namesIn, spawnCli, tempRoot, waitUntil } from "../_helpers.ts";
import { startServe } from "./_server.ts";

const CHROMIUM = "/usr/bin/chromium";

const hasChromium = await Deno.lstat(CHROMIUM).then(() => true, () => false);

/** The handler `hurah watch` runs in the test: every task succeeds. */
const HANDLER = "export default () => 0;\n";

Deno.test({
  name: "hurah serve in chromium: live overview, a listener with errors, a task requeued from the page and handled",
  async fn() {
    if (!hasChromium) {
      console.log("skipped: no chromium (apt-get install chromium)");
      return;
    }
    // Pinned here, not in deno.json: a test-only dependency, loaded only where chromium is there to drive.
    // deno-lint-ignore no-import-prefix
    const { chromium } = await import("npm:playwright-core@1.57.0");
    await using root = await tempRoot();
    await using shots = await tempRoot();
    await buildOpsRoot(root.path);
    // billing/invoice/sender: task 1 failed for good (in error/), as a handler that threw would leave it.
    const sender = { name: "sender", eventType: "billing/invoice", durable: false, handler: () => Task.SUCCESS };
    await runOnce(root.path, sender);
    const dispatcher = new Dispatcher(root.path, { durable: false });
    await dispatcher.dispatch("billing/invoice", { invoice: 17, to: "<ops@example.com>" });
    await runOnce(root.path, {
      ...sender,
      handler: () => {
        throw new Error("SMTP refused: 554 <ops@example.com> relay denied");
      },
    });
    const senderDir = join(root.path, "billing", "invoice", "sender_listener");
    equal(namesIn(join(senderDir, "error")).includes("1.json"), true);
    await Deno.writeTextFile(join(root.path, "handler.ts"), HANDLER);

    await using server = await startServe(["--root", root.path, "--interval", "500ms"]);
    const watcher = spawnCli([
      "watch",
      "sender",
      "billing/invoice",
      join(root.path, "handler.ts"),
      "--root",
      root.path,
    ]);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      const shot = (name: string) => page.screenshot({ path: join(shots.path, `${name}.png`), fullPage: true });
      const scripts: string[] = [];
      page.on("console", (message) => {
        if (message.type() === "error") scripts.push(message.text());
      });

      // The overview, live: a dispatch while the page is open shows within 2 s without a reload.
      await page.goto(server.url + "/");
      await page.waitForSelector("#live:has-text('live, updated')", { timeout: 10_000 });
      const overview = await page.innerText("main");
      match(overview, /audit\s+\(root\)\s+failing at #5/);
      match(overview, /billing\/invoice\/sender/);
      await shot("overview");
      const row = "tr:has(a[href='/listener/product/created/image_scaler'])";
      equal(await page.innerText(`${row} td:nth-child(4)`), "1");
      const navigations: string[] = [];
      page.on("framenavigated", (frame) => navigations.push(frame.url()));
      await dispatcher.dispatch("product/created", { n: 8 });
      const dispatched = Date.now();
      // (page.waitForFunction would evaluate a string: the page's CSP, with no 'unsafe-eval', refuses that.)
      await page.locator(`${row} td:nth-child(4)`, { hasText: /^2$/ }).waitFor({ timeout: 2000 });
      ok(Date.now() - dispatched <= 2000);
      equal(navigations.length, 0, "no reload");
      await shot("overview-live");

      // The listener with its error, then the task, then requeue it from the page.
      await page.click("a[href='/listener/billing/invoice/sender']");
      await page.waitForSelector("h2:has-text('Recent errors')");
      const listener = await page.innerText("main");
      match(listener, /Recent errors \(latest 1 of 1\)/);
      match(listener, /SMTP refused: 554 <ops@example\.com> relay denied/);
      await shot("listener");
      await page.click("a[href='/task/billing/invoice/sender/1']");
      const task = await page.innerText("main");
      match(task, /in error\//);
      match(task, /"to": "<ops@example\.com>"/);
      match(task, /attempt 1 · ERROR -> error/);
      await shot("task");
      await page.click("text=Requeue this task...");
      match(await page.innerText("main"), /requeue task #1 of billing\/invoice\/sender/);
      await shot("confirm");
      await page.click("button.danger");
      match(await page.innerText("main"), /Put back into the inbox of billing\/invoice\/sender: #1/);
      await shot("requeued");

      // The running hurah watch handles it.
      await waitUntil("task 1 archived by hurah watch", () => namesIn(join(senderDir, "archive")).includes("1.json"));
      await page.goto(server.url + "/task/billing/invoice/sender/1");
      const handled = await page.innerText("main");
      match(handled, /in archive\//);
      match(handled, /REQUEUED/);
      await shot("task-handled");
      equal(scripts.length, 0, `script errors (CSP?): ${scripts.join("; ")}`);
      for (const name of ["overview", "overview-live", "listener", "task", "confirm", "requeued", "task-handled"]) {
        ok((await Deno.stat(join(shots.path, `${name}.png`))).size > 1000, `${name}.png`);
      }
      const keep = Deno.env.get("HURAH_SCREENSHOTS");
      if (keep) {
        for (const name of namesIn(shots.path)) await Deno.copyFile(join(shots.path, name), join(keep, name));
      }
    } finally {
      await browser.close();
      killQuietly(watcher, "SIGTERM");
      await watcher.status;
      await server.stop();
    }
  },
});
