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
