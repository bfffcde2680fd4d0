import { deepEqual, equal, notEqual, ok, throws } from "node:assert/strict";
import {
  consumerName,
  eventSubject,
  eventTypeOfSubject,
  listenerFilter,
  MAX_CONSUMER_NAME,
  reaches,
} from "../../../src/backend/nats/subjects.ts";
import { InvalidNameError } from "../../../src/errors.ts";

/** Whether a NATS filter subject matches a subject (`*` one token, `>` one or more at the end). */
function matches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i;
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false;
  }
  return f.length === s.length;
}

Deno.test("eventSubject() maps segments to tokens, ending in _", () => {
  const table: [string, string][] = [
    ["product/created", "hurah.ev.product.created._"],
    ["product", "hurah.ev.product._"],
    ["", "hurah.ev._"],
    ["v1.2/x.y", "hurah.ev.v1~2.x~y._"],
    ["a/_", "hurah.ev.a._._"],
    ["a-b/C_d", "hurah.ev.a-b.C_d._"],
  ];
  for (const [eventType, subject] of table) {
    equal(eventSubject(eventType), subject, eventType);
    equal(eventTypeOfSubject(subject), eventType, subject);
  }
  throws(() => eventSubject("a//b"), InvalidNameError);
  throws(() => eventTypeOfSubject("hurah.ev.a"), RangeError);
});

Deno.test("listenerFilter() matches exactly the events reaches() says (root, parent, child, product vs products, '.', '_')", () => {
  const types = ["", "product", "product/created", "products", "products/created", "product/_", "v1.2", "v1", "v1/2"];
  for (const listener of types) {
    for (const event of types) {
      equal(
        matches(listenerFilter(listener), eventSubject(event)),
        reaches(listener, event),
        `listener on ${JSON.stringify(listener)}, event ${JSON.stringify(event)}`,
      );
    }
  }
  equal(listenerFilter(""), "hurah.ev.>");
  equal(listenerFilter("product"), "hurah.ev.product.>");
  ok(!matches(listenerFilter("product"), eventSubject("products")));
  ok(!matches(listenerFilter("v1"), eventSubject("v1.2")));
});

Deno.test("consumerName() keeps to NATS's characters and never maps two ids to one name", async () => {
  const ids = [
    "product/created/image_scaler",
    "product_screated/image_scaler",
    "product/created_simage/scaler",
    "a.b/c",
    "a_db/c",
    "a/b_c",
    "a_sb_c",
    "a__b",
    "a_b",
    "audit",
  ];
  const names = await Promise.all(ids.map(consumerName));
  equal(new Set(names).size, ids.length, names.join(" "));
  for (const name of names) ok(/^[A-Za-z0-9_-]+$/.test(name), name);
  deepEqual(names.slice(0, 1), ["product_screated_simage__scaler"]);
});

Deno.test("consumerName() of a long id is cut and carries a hash: different ids, different names", async () => {
  const segment = "s".repeat(100);
  const long = `${Array(16).fill(segment).join("/")}/handler`;
  const other = `${Array(16).fill(segment).join("/")}/handler2`;
  const [a, b] = [await consumerName(long), await consumerName(other)];
  ok(a.length <= MAX_CONSUMER_NAME, String(a.length));
  ok(/_x[0-9a-f]{32}$/.test(a), a);
  notEqual(a, b);
  equal(await consumerName(long), a);
  // A plain name of the same length range never looks like a cut one (every '_' of a plain name starts '__', '_d', '_s').
  ok(!/_x/.test((await consumerName("a_x")).replace(/__|_d|_s/g, "")));
});
