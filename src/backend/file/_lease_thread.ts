/**
 * The code of the thread that owns a lease file (see `lease.ts`), as the
 * text of a self-contained module: it is started from a `data:` URL, which
 * works when hurah runs from source, from JSR and in a `deno compile` binary
 * (a worker module given by file URL is not embedded in a binary unless
 * named with `--include`, and a `blob:` URL was not found there either,
 * denoland/deno#29962).
 *
 * The thread creates the lease file locked (staged in `tmp/`, locked, then
 * renamed into `workers/`), renews it every `intervalMs` by writing its
 * contents again through the locked descriptor, so that the file system
 * stamps its mtime with its own clock, creates it anew when another worker
 * removed it, and removes it on `stop`. Its event loop runs nothing else, so
 * a handler that blocks the main thread cannot stall the renewal.
 *
 * Messages in: `{ id, op: "start", path, tmp, text, intervalMs }`,
 * `{ id, op: "stamp" }` (renew now), `{ id, op: "stop" }`. Each is answered
 * with `{ id, ok: true, mtime }` (the lease file's mtime after the
 * operation, in ms since the epoch, or null) or
 * `{ id, ok: false, name, message }`.
 *
 * @module
 */

/** The thread's module source (plain JavaScript, no imports). */
export const LEASE_THREAD_SOURCE = `
let path, tmp, bytes, intervalMs, file, ino = null, counter = 0, timer, stopped = false;
let queue = Promise.resolve();
const prefix = "lease." + crypto.randomUUID().slice(0, 8);

function serial(step) {
  const run = queue.then(step);
  queue = run.catch(() => {});
  return run;
}

async function writeAll(target) {
  for (let offset = 0; offset < bytes.length;) offset += await target.write(bytes.subarray(offset));
}

async function create() {
  const staged = tmp + "/" + prefix + "." + (++counter) + ".tmp";
  const fresh = await Deno.open(staged, { read: true, write: true, createNew: true });
  try {
    await writeAll(fresh);
    await fresh.lock(true);
    await Deno.rename(staged, path);
  } catch (error) {
    fresh.close();
    await Deno.remove(staged).catch(() => {});
    throw error;
  }
  file?.close();
  file = fresh;
  const info = await fresh.stat();
  ino = info.ino;
  return info.mtime;
}

async function isOurs() {
  try {
    const info = await Deno.stat(path);
    return ino === null || info.ino === ino;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

// Writes the same bytes again: the file system stamps the mtime. The fstat after it also makes an NFS client send
// the write to the server at once (it flushes dirty pages before getting attributes), so others see the new mtime.
async function renew() {
  if (!await isOurs()) return await create();
  await file.seek(0, Deno.SeekMode.Start);
  await writeAll(file);
  return (await file.stat()).mtime;
}

function schedule() {
  timer = setTimeout(() => {
    serial(renew).catch(() => {}).finally(() => {
      if (!stopped) schedule();
    });
  }, intervalMs);
}

async function stop() {
  stopped = true;
  clearTimeout(timer);
  if (file === undefined) return null;
  if (await isOurs()) await Deno.remove(path).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  file.close();
  file = undefined;
  return null;
}

self.onmessage = (event) => {
  const message = event.data;
  let work;
  if (message.op === "start") {
    ({ path, tmp, intervalMs } = message);
    bytes = new TextEncoder().encode(message.text);
    work = serial(create).then((mtime) => {
      schedule();
      return mtime;
    });
  } else if (message.op === "stamp") {
    work = serial(renew);
  } else if (message.op === "stop") {
    work = serial(stop);
  } else {
    work = Promise.reject(new TypeError("unknown lease operation " + JSON.stringify(message.op)));
  }
  work.then(
    (mtime) => self.postMessage({ id: message.id, ok: true, mtime: mtime ? mtime.getTime() : null }),
    (error) => self.postMessage({
      id: message.id,
      ok: false,
      name: error && error.name ? String(error.name) : "Error",
      message: error && error.message ? String(error.message) : String(error),
    }),
  );
};
`;
