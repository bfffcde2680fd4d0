/**
 * The one place that picks a backend: the command line and the library say
 * where the tasks are (an event root today), and get a {@linkcode Backend}.
 */
import { FileBackend, type FileBackendOptions } from "./file/backend.ts";
import type { Backend } from "./port.ts";

/** Where the tasks are. */
export interface BackendAddress {
  /** The event root directory. */
  root: string;
}

/** Options of {@linkcode connect}: how the backend writes and waits. */
export type ConnectOptions = FileBackendOptions;

/** The backend of an address: the file backend of an event root. */
export function connect(address: BackendAddress, options: ConnectOptions = {}): Backend {
  return new FileBackend(address.root, options);
}

/**
 * Whether the place an address names is there: the event root exists (a
 * directory, or anything else standing there: then the backend says what is
 * wrong when it is used).
 */
export function addressExists(address: BackendAddress): boolean {
  try {
    Deno.statSync(address.root);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
