// The contract between `ringwire perf server` and the in-process server
// implementations (node:*, ringwire UDP, ringwire TCP, HTTP).
//
// A module exports a start function; the runner (run.ts) pins the thread,
// prints `listening <port>`, waits for SIGTERM/SIGINT or --lifetime, then
// calls close() and prints one JSON line: counters() plus the process's own
// CPU time since `listening`. Counter names follow the C rw-server's JSON
// (packets = datagrams or TCP reads with data, bytes, sent, sent_bytes,
// errors; TCP: accepted, closed), so rows compare key for key.
//
// lib/cli/perf/servers/tcp-ringwire.ts exports
//   runTcpServer(opts: ServerStartOptions): Promise<RunningServer>
// for impls 'ringwire', 'ringwire-epoll' and 'ringwire-net'.
import type { ServerMode } from '../args';

export interface ServerStartOptions {
  mode: ServerMode;
  impl: string;
  host: string;
  port: number;
  /** SO_RCVBUF in bytes, when asked for. */
  rcvbuf?: number;
  /** Receive buffers (ringwire bufferCount), when asked for. */
  bufs?: number;
}

export type Counters = Record<string, number | string | boolean | null | Record<string, unknown>>;

export interface RunningServer {
  /** The bound port. */
  port: number;
  /** Counters so far; called once, before close(). */
  counters(): Counters;
  /** Stops serving; open connections may be dropped. */
  close(): Promise<void> | void;
}
