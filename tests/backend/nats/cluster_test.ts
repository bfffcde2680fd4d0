/**
 * The NATS backend on a 3-node cluster on loopback (R3): streams made with 3
 * replicas, and every event whose dispatch returned is handled after the
 * stream leader is killed with SIGKILL. (The full node-kill acceptance of
 * issue 10, 20,000 events and the consumer leader killed too, is a later stage.)
 *
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Dispatcher, Task, type TaskContext, watch } from "../../../mod.ts";
import { EVENT_STREAM, NatsBackend } from "../../../src/backend/nats/mod.ts";
import { checkListener } from "../../../src/protocol/listener_id.ts";
import { waitUntil } from "../../_helpers.ts";
import { NATS_SKIP, reportSkip, startNatsCluster, untilAvailable } from "../../_nats.ts";

reportSkip("tests/backend/nats/cluster_test.ts");

/**
 * Runs `fn`, turning a `SuppressedError` (the test failed, and then so did a
 * disposal) into one error that says both, so that the failure can be read.
 */
async function readably(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof SuppressedError)) throw error;
    const say = (e: unknown) => e instanceof Error ? e.stack ?? e.message : String(e);
    throw new Error(`the test failed: ${say(error.suppressed)}\nand then a disposal failed: ${say(error.error)}`);
  }
}

Deno.test({
  name: "on 3 nodes with replicas 3, every dispatched event is handled after the stream leader is killed",
  ignore: NATS_SKIP !== undefined,
  fn: () =>
    readably(async () => {
      await using cluster = await startNatsCluster(3);
      await using backend = await untilAvailable(
        "connecting",
        () => NatsBackend.connect(cluster.urls, { replicas: 3, pollIntervalMs: 200 }),
      );
      const listener = checkListener("l", "a");
      await untilAvailable("registering the listener", () => backend.register(listener));
      const nc = await connect({ servers: cluster.urls });
      try {
        const jsm = await jetstreamManager(nc, { checkAPI: false });
        const info = await untilAvailable("the stream's info", () => jsm.streams.info(EVENT_STREAM));
        equal(info.config.num_replicas, 3);
        const dispatcher = new Dispatcher(backend);
        const acknowledged = new Set<number>();
        const dispatch = async (n: number) => {
          await untilAvailable(`dispatching ${n}`, () => dispatcher.dispatch("a", n));
          acknowledged.add(n);
        };
        for (let n = 0; n < 50; n++) await dispatch(n);
        const leader = (await untilAvailable("the stream's leader", () => jsm.streams.info(EVENT_STREAM))).cluster
          ?.leader;
        const node = cluster.nodes.find((each) => each.name === leader);
        ok(node, `the stream leader ${leader} is one of the nodes`);
        await node.kill();
        for (let n = 50; n < 100; n++) await dispatch(n);
        const handled = new Set<number>();
        let runs = 0;
        const listeners = [{
          name: "l",
          eventType: "a",
          handler: (context: TaskContext) => {
            runs++;
            handled.add(context.payload as number);
            return Task.SUCCESS;
          },
        }];
        // A watcher whose start meets the election (its registration times out) stops; a new one is started then,
        // as systemd would start `hurah watch` again.
        await using watcher = await untilAvailable("the watcher", async () => {
          const started = watch(backend, { listeners });
          try {
            await started.ready;
            return started;
          } catch (error) {
            await started.close().catch(() => {});
            throw error;
          }
        });
        await node.restart();
        await waitUntil(
          () => `every acknowledged event handled (${handled.size} of ${acknowledged.size})`,
          () => {
            return [...acknowledged].every((n) => handled.has(n));
          },
          60_000,
          100,
        );
        await watcher.close();
        ok(runs >= acknowledged.size, `${runs} runs`);
      } finally {
        await nc.close();
      }
    }),
});
