/**
 * Issue 10's node-kill acceptance: 3 nats-server nodes on loopback, streams
 * and consumers with 3 replicas. 20,000 events are dispatched through the
 * library while the stream leader is killed with SIGKILL and started again;
 * then two `hurah watch --broker ... --concurrency 4` processes handle them
 * while the consumer leader is killed and started again. Checks: every event
 * whose dispatch returned success is handled (duplicates are counted and
 * allowed), and every server's own copy of the event stream ends at the same
 * last sequence (its `/jsz`). Prints its measurements; exits 1 when a check
 * fails.
 *
 * ```sh
 * deno run -A scripts/acceptance/nats_node_kill.ts [--events 20000]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { DeliveryError, Dispatcher } from "../../mod.ts";
import { consumerName, EVENT_STREAM, NatsBackend } from "../../src/backend/nats/mod.ts";
import { checkListener } from "../../src/protocol/listener_id.ts";
import { type ClusterNode, startNatsCluster, untilAvailable } from "../../tests/_nats.ts";
import { check, lines, sleep, startWatcher, stopAll, watchArgs } from "./_common.ts";

const { values } = parseArgs({ args: Deno.args, options: { events: { type: "string" } } });
const EVENTS = Number(values.events ?? 20_000);
const CHUNK = 250;

/** Each node's own last sequence of the event stream, from its monitoring endpoint. */
async function lastSequences(nodes: readonly ClusterNode[]): Promise<(number | null)[]> {
  return await Promise.all(nodes.map(async (node) => {
    const response = await fetch(`${node.monitorUrl}/jsz?streams=true`).catch(() => undefined);
    if (!response?.ok) return null;
    const jsz = await response.json() as {
      account_details?: { stream_detail?: { name: string; state: { last_seq: number } }[] }[];
    };
    const stream = jsz.account_details?.flatMap((account) => account.stream_detail ?? [])
      .find((each) => each.name === EVENT_STREAM);
    return stream?.state.last_seq ?? null;
  }));
}

await using cluster = await startNatsCluster(3);
const listener = checkListener("nodes", "accept");
await using backend = await untilAvailable(
  "connecting",
  () => NatsBackend.connect(cluster.urls, { replicas: 3, pollIntervalMs: 200 }),
);
await untilAvailable("registering the listener", () => backend.register(listener));
const consumer = await consumerName(listener.id);
const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1 });
const jsm = await jetstreamManager(nc, { checkAPI: false });
const leaderOf = async (what: "stream" | "consumer") => {
  const info = what === "stream"
    ? await untilAvailable("the stream's info", () => jsm.streams.info(EVENT_STREAM))
    : await untilAvailable("the consumer's info", () => jsm.consumers.info(EVENT_STREAM, consumer));
  return cluster.nodes.find((node) => node.name === info.cluster?.leader)!;
};
/** Kills a node with SIGKILL, starts it again after `downMs`; resolves when it runs again. */
const killAndRestart = async (node: ClusterNode, downMs: number) => {
  await node.kill();
  await sleep(downMs);
  await node.restart();
};

// Dispatch: chunks of CHUNK events; the stream leader is killed at a quarter. An event whose publish failed is
// dispatched again later (a new event id); only those whose dispatch returned success count.
const dispatcher = new Dispatcher(backend);
const acknowledged = new Set<number>();
let failedPublishes = 0;
let longestStallMs = 0;
let lastAckAt = performance.now();
const dispatchStarted = performance.now();
let streamKill: Promise<void> | undefined;
let streamLeader = "";
let queue = Array.from({ length: EVENTS }, (_, id) => id);
while (queue.length > 0) {
  const retry: number[] = [];
  for (let start = 0; start < queue.length; start += CHUNK) {
    if (streamKill === undefined && acknowledged.size >= EVENTS / 4) {
      const leader = await leaderOf("stream");
      streamLeader = leader.name;
      streamKill = killAndRestart(leader, 5000);
    }
    const ids = queue.slice(start, start + CHUNK);
    let deliveries;
    try {
      deliveries = await dispatcher.dispatchMany(ids.map((id) => ({ eventType: "accept", payload: { id } })));
    } catch (error) {
      if (!(error instanceof DeliveryError)) {
        failedPublishes += ids.length;
        retry.push(...ids);
        await sleep(250);
        continue;
      }
      deliveries = error.deliveries;
    }
    for (const [index, id] of ids.entries()) {
      if (deliveries[index]?.length > 0) acknowledged.add(id);
      else {
        failedPublishes++;
        retry.push(id);
      }
    }
    const now = performance.now();
    longestStallMs = Math.max(longestStallMs, now - lastAckAt);
    lastAckAt = now;
  }
  queue = retry;
}
const dispatchS = (performance.now() - dispatchStarted) / 1000;
await streamKill;

// Handling: two watchers; the consumer leader is killed at a third.
const out = await Deno.makeTempFile({ prefix: "hurah_accept_", suffix: ".txt" });
const args = watchArgs(listener, cluster.urls, ["--replicas", "3", "--concurrency", "4", "--max-lost", "50"]);
const env = { HURAH_ACCEPT_OUT: out, HURAH_ACCEPT_MS: "1" };
const handleStarted = performance.now();
const watchers = [startWatcher(args, env), startWatcher(args, env)];
let consumerLeader = "";
let handled = new Set<number>();
let runs = 0;
try {
  let consumerKill: Promise<void> | undefined;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const seen = await lines(out);
    runs = seen.length;
    handled = new Set(seen.map((run) => run.id));
    if (consumerKill === undefined && handled.size >= acknowledged.size / 3) {
      const leader = await leaderOf("consumer");
      consumerLeader = leader.name;
      consumerKill = killAndRestart(leader, 5000);
    }
    if ([...acknowledged].every((id) => handled.has(id))) break;
    if (runs !== last) [last, lastChange] = [runs, Date.now()];
    if (Date.now() - lastChange > 120_000) break; // the checks below say what is missing
    await sleep(200);
  }
  await consumerKill;
} finally {
  await stopAll(watchers);
}
const handleS = (performance.now() - handleStarted) / 1000;
await Deno.remove(out);
let sequences = await lastSequences(cluster.nodes);
for (let waited = 0; waited < 30_000 && new Set(sequences).size !== 1; waited += 500) {
  await sleep(500);
  sequences = await lastSequences(cluster.nodes);
}
await nc.close();
const missing = [...acknowledged].filter((id) => !handled.has(id));
const duplicates = runs - handled.size;
console.log(
  `events: ${EVENTS}, 3 nodes, R3; acknowledged dispatches: ${acknowledged.size}, failed publishes ` +
    `(dispatched again): ${failedPublishes}`,
);
console.log(
  `dispatch: ${dispatchS.toFixed(1)} s (${(acknowledged.size / dispatchS).toFixed(0)}/s), stream leader ` +
    `${streamLeader} killed at ${EVENTS / 4}, longest stall between chunks ${(longestStallMs / 1000).toFixed(1)} s`,
);
console.log(
  `handling: 2 watchers x concurrency 4, ${handleS.toFixed(1)} s, consumer leader ${consumerLeader} ` +
    `killed at a third; runs ${runs}, duplicates ${duplicates}, acknowledged events not handled ${missing.length}`,
);
console.log(
  `last sequence of ${EVENT_STREAM} per server: ${
    cluster.nodes.map((node, k) => `${node.name}=${sequences[k]}`).join(" ")
  }`,
);
const failures = [
  check(streamLeader !== "" && consumerLeader !== "", "both leaders were killed"),
  check(missing.length === 0, `${missing.length} acknowledged events not handled: ${missing.slice(0, 10)}`),
  check(new Set(sequences).size === 1 && sequences[0] !== null, `servers disagree: ${sequences}`),
].filter((ok) => !ok).length;
console.log(failures === 0 ? "PASS" : `FAIL: ${failures} checks failed`);
Deno.exitCode = failures === 0 ? 0 : 1; // not Deno.exit(): the servers are stopped by their disposal first
