/**
 * The NATS section of `deno task bench`: hurah over NATS against the raw client doing the same work, in one process,
 * interleaved round by round, on one nats-server (R1) and on three (R3). Tables: dispatch one at a time, pipelined
 * dispatch, drain one at a time (ordered) and drain 16 at a time; the stream is purged between trials.
 *
 * @module
 */
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Dispatcher, runOnce, Task } from "../mod.ts";
import { consumerName, EVENT_STREAM, eventSubject, NatsBackend } from "../src/backend/nats/mod.ts";
import { checkListener } from "../src/protocol/listener_id.ts";
import { NATS_SERVER, startNatsCluster, startNatsServer, untilAvailable } from "../tests/_nats.ts";
import { interleave } from "./_bench_harness.ts";
import { LABELS, type ResultTable, tableKind, tableTitle } from "./_bench_report.ts";
import { perSecond } from "./_bench_stats.ts";

/** Sizes of the NATS section. */
export interface NatsPlan {
  /** The clusters: 1 (one node, R1) and 3 (three nodes, R3). */
  replicas: number[];
  /** Messages per trial, by mode. */
  messages: { one: number; pipelined: number; drain: number; parallel: number };
  /** Measured rounds per table. */
  runs: number;
}

const EVENT_TYPE = "bench";
const WINDOW = 1000;
const PARALLEL = 16;

/** The contenders of each mode: hurah's, then the raw client's (the table's floor). */
const MODES = {
  one: ["hurah-dispatch", "raw-publish"],
  pipelined: ["hurah-dispatch-many", "raw-publish-pipelined"],
  drain: ["hurah-drain", "raw-fetch-one"],
  parallel: ["hurah-drain-parallel", "raw-fetch-batch"],
} as const;

type Mode = keyof typeof MODES;

/** What the trials share: hurah's backend and a raw connection to the same servers. */
interface Link {
  backend: NatsBackend;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  consumer: string;
}

/** The payloads of a trial: about 240 bytes of JSON each. */
function payloads(n: number): { id: number; pad: string }[] {
  return Array.from({ length: n }, (_, id) => ({ id, pad: "x".repeat(220) }));
}

/** Puts `n` events on the listener's consumer (untimed), for a drain. */
async function backlog(link: Link, n: number): Promise<void> {
  await new Dispatcher(link.backend).dispatchMany(payloads(n).map((payload) => ({ eventType: EVENT_TYPE, payload })));
}

/** Sets the consumer as hurah's `open()` does for a mode, so that the raw client drains the same consumer. */
async function setConsumer(link: Link, maxAckPending: number): Promise<void> {
  await link.jsm.consumers.update(EVENT_STREAM, link.consumer, { max_ack_pending: maxAckPending });
}

/** One trial: the contender's rate, in messages per second. */
async function trial(link: Link, contender: string, n: number): Promise<number> {
  await link.jsm.streams.purge(EVENT_STREAM);
  const subject = eventSubject(EVENT_TYPE);
  const listener = { name: "l", eventType: EVENT_TYPE };
  const drains = contender.includes("drain") || contender.includes("fetch");
  if (drains) {
    await backlog(link, n);
    if (contender === "raw-fetch-one") await setConsumer(link, 1);
    if (contender === "raw-fetch-batch") await setConsumer(link, 10_000);
  }
  const events = payloads(n);
  const started = performance.now();
  let done = 0;
  switch (contender) {
    case "hurah-dispatch": {
      const dispatcher = new Dispatcher(link.backend);
      for (const payload of events) done += (await dispatcher.dispatch(EVENT_TYPE, payload)).length;
      break;
    }
    case "raw-publish":
      for (const payload of events) {
        await link.js.publish(subject, JSON.stringify(payload), { msgID: crypto.randomUUID() });
        done++;
      }
      break;
    case "hurah-dispatch-many":
      done = (await new Dispatcher(link.backend).dispatchMany(
        events.map((payload) => ({ eventType: EVENT_TYPE, payload })),
      )).length;
      break;
    case "raw-publish-pipelined":
      for (let start = 0; start < n; start += WINDOW) {
        const window = events.slice(start, start + WINDOW);
        await Promise.all(
          window.map((payload) => link.js.publish(subject, JSON.stringify(payload), { msgID: crypto.randomUUID() })),
        );
        done += window.length;
      }
      break;
    case "hurah-drain":
    case "hurah-drain-parallel":
      // Passes until the backlog is drained (a pass ends at a pull that finds nothing at once), as a watcher makes.
      for (let empty = 0; done < n && empty < 100;) {
        const { archived } = await runOnce(link.backend, {
          ...listener,
          handler: () => Task.SUCCESS,
          concurrency: contender === "hurah-drain" ? 1 : PARALLEL,
        });
        done += archived;
        if (archived === 0) empty++;
      }
      break;
    case "raw-fetch-one": {
      const consumer = await link.js.consumers.get(EVENT_STREAM, link.consumer);
      while (done < n) {
        const message = await consumer.next({ expires: 1000 });
        if (message === null) break;
        JSON.parse(message.string());
        await message.ackAck();
        done++;
      }
      break;
    }
    case "raw-fetch-batch": {
      const consumer = await link.js.consumers.get(EVENT_STREAM, link.consumer);
      while (done < n) {
        const batch = await consumer.fetch({ max_messages: PARALLEL, expires: 1000 });
        const messages = [];
        for await (const message of batch) messages.push(message);
        if (messages.length === 0) break;
        await Promise.all(messages.map((message) => (JSON.parse(message.string()), message.ackAck())));
        done += messages.length;
      }
      break;
    }
    default:
      throw new Error(`unknown NATS contender ${contender}`);
  }
  const ms = performance.now() - started;
  if (done !== n) throw new Error(`${contender}: expected ${n} messages, did ${done}`);
  return perSecond(n, ms);
}

/**
 * Measures the NATS section; `[]` with a note when there is no nats-server. Prints nothing itself: the caller
 * publishes the tables.
 */
export async function benchNats(
  plan: NatsPlan,
  log: (text: string) => void,
  notes: string[],
): Promise<ResultTable[]> {
  if (NATS_SERVER === undefined) {
    notes.push("NATS was not measured: no `nats-server` on PATH (`apt-get install -y nats-server`).");
    return [];
  }
  const tables: ResultTable[] = [];
  for (const replicas of plan.replicas) {
    log(`nats: R${replicas}...`);
    await using servers = replicas === 1 ? await startNatsServer() : await startNatsCluster(replicas);
    const urls = "urls" in servers ? servers.urls : servers.url;
    await using backend = await untilAvailable("connecting", () => NatsBackend.connect(urls, { replicas }));
    const listener = checkListener("l", EVENT_TYPE);
    await untilAvailable("registering", () => backend.register(listener));
    const nc = await connect({ servers: urls.split(",") });
    try {
      const link: Link = {
        backend,
        nc,
        js: jetstream(nc),
        jsm: await jetstreamManager(nc),
        consumer: await consumerName(listener.id),
      };
      for (const [mode, contenders] of Object.entries(MODES) as [Mode, readonly string[]][]) {
        const messages = plan.messages[mode];
        const samples = await interleave(contenders, { runs: plan.runs, warmup: true }, async (contender) => {
          return await trial(link, contender, messages);
        });
        const params = { fs: "nats", replicas, mode, messages };
        tables.push({
          workload: "nats",
          id: `nats/r${replicas}/${mode}`,
          title: tableTitle("nats", params),
          params,
          ...tableKind("nats"),
          floor: contenders[1],
          series: [...samples].map(([id, values]) => ({ id, label: LABELS.nats[id], values })),
        });
      }
    } finally {
      await nc.close();
    }
  }
  return tables;
}
