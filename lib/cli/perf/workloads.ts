// The comparison matrix: what each row runs, where it runs, and how its
// figures are read from the server's and the client's JSON.
import type { ClientMode, ServerMode } from './args';

export type Placement = 'same' | 'cross';

export interface Workload {
  id: string;
  title: string;
  server: ServerMode;
  /** rw-client mode, or wrk for HTTP. */
  client: ClientMode | 'wrk';
  clientArgs: string[];
  /** same: client and server on one CPU (latency); cross: side by side. */
  placement: Placement;
  impls: string[];
  metric: { key: string; label: string; unit: string };
  /** What one operation is, for server CPU per operation. */
  op: string;
  latency: boolean;
  sink: boolean;
  rcvbuf?: number;
  /** The implementation ratios are taken against. */
  baseline: string;
}

// ringwire-eventfd: the other io_uring wake mode, on every workload, so a
// mode that is slow (or falls back) on this machine shows in the same run.
const UDP_IMPLS = ['node', 'c-epoll', 'c-uring', 'ringwire', 'ringwire-eventfd', 'ringwire-epoll'];
const TCP_IMPLS = ['node', 'c-epoll', 'c-uring', 'ringwire', 'ringwire-eventfd', 'ringwire-epoll', 'ringwire-net'];
const SINK_RCVBUF = 4 << 20;

const SINK_GSO: Workload = {
  id: 'udp-sink',
  title: 'UDP receive, 64 B datagrams from the C GSO blaster at full rate',
  server: 'udp-sink',
  client: 'udp-blast',
  clientArgs: ['--size', '64', '--gso'],
  placement: 'cross',
  impls: [...UDP_IMPLS.slice(0, 3), 'c-busy', ...UDP_IMPLS.slice(3), 'ringwire-dgram'],
  metric: { key: 'rx_pps', label: 'datagrams received/s', unit: '/s' },
  op: 'datagram',
  latency: false,
  sink: true,
  rcvbuf: SINK_RCVBUF,
  baseline: 'c-epoll',
};

export const WORKLOADS: Workload[] = [
  {
    id: 'udp-pingpong-same',
    title: 'UDP ping-pong 64 B, client and server on the same CPU',
    server: 'udp-echo',
    client: 'udp-pingpong',
    clientArgs: ['--size', '64'],
    placement: 'same',
    impls: [...UDP_IMPLS, 'ringwire-dgram'],
    metric: { key: 'rtt_per_s', label: 'round trips/s', unit: '/s' },
    op: 'round trip',
    latency: true,
    sink: false,
    baseline: 'c-epoll',
  },
  {
    id: 'udp-pingpong-cross',
    title: 'UDP ping-pong 64 B, server and (spinning) client on different CPUs',
    server: 'udp-echo',
    client: 'udp-pingpong',
    clientArgs: ['--size', '64', '--spin'],
    placement: 'cross',
    impls: [...UDP_IMPLS.slice(0, 3), 'c-busy', ...UDP_IMPLS.slice(3), 'ringwire-busy', 'ringwire-dgram'],
    metric: { key: 'rtt_per_s', label: 'round trips/s', unit: '/s' },
    op: 'round trip',
    latency: true,
    sink: false,
    baseline: 'c-epoll',
  },
  SINK_GSO,
  {
    // The same receiver row fed by the plain sendmmsg blaster: issue 5's
    // Node figure (16-27 % loss) matches this rate; the GSO blaster is ~4x
    // faster and makes every receiver, C included, drop.
    ...SINK_GSO,
    id: 'udp-sink-mmsg',
    title: 'UDP receive, 64 B datagrams from the C sendmmsg blaster at full rate (the issue-5 sink workload)',
    clientArgs: ['--size', '64'],
  },
  {
    id: 'tcp-rr-1-same',
    title: 'TCP echo 64 B, 1 connection, client and server on the same CPU',
    server: 'tcp-echo',
    client: 'tcp-rr',
    clientArgs: ['--size', '64', '--conns', '1'],
    placement: 'same',
    impls: TCP_IMPLS,
    metric: { key: 'req_per_s', label: 'requests/s', unit: '/s' },
    op: 'request',
    latency: true,
    sink: false,
    baseline: 'c-epoll',
  },
  {
    id: 'tcp-rr-1-cross',
    title: 'TCP echo 64 B, 1 connection, server and (spinning) client on different CPUs',
    server: 'tcp-echo',
    client: 'tcp-rr',
    clientArgs: ['--size', '64', '--conns', '1', '--spin'],
    placement: 'cross',
    impls: [...TCP_IMPLS.slice(0, 3), 'c-busy', ...TCP_IMPLS.slice(3), 'ringwire-busy'],
    metric: { key: 'req_per_s', label: 'requests/s', unit: '/s' },
    op: 'request',
    latency: true,
    sink: false,
    baseline: 'c-epoll',
  },
  {
    id: 'tcp-rr-64',
    title: 'TCP echo 64 B, 64 connections, side by side',
    server: 'tcp-echo',
    client: 'tcp-rr',
    clientArgs: ['--size', '64', '--conns', '64'],
    placement: 'cross',
    impls: TCP_IMPLS,
    metric: { key: 'req_per_s', label: 'requests/s', unit: '/s' },
    op: 'request',
    latency: true,
    sink: false,
    baseline: 'c-epoll',
  },
  {
    id: 'tcp-stream',
    title: 'TCP streaming, 64 KiB writes, 1 connection, side by side',
    server: 'tcp-sink',
    client: 'tcp-stream',
    clientArgs: ['--size', '65536', '--conns', '1'],
    placement: 'cross',
    impls: TCP_IMPLS,
    metric: { key: 'gbytes_per_s', label: 'GB/s', unit: 'GB/s' },
    op: '64 KiB',
    latency: false,
    sink: true,
    baseline: 'c-epoll',
  },
  {
    id: 'http-hello',
    title: 'HTTP hello world, wrk -t1 -c64, side by side',
    server: 'http',
    client: 'wrk',
    clientArgs: ['-t1', '-c64'],
    placement: 'cross',
    impls: ['node', 'ringwire', 'ringwire-eventfd'],
    metric: { key: 'req_per_s', label: 'requests/s', unit: '/s' },
    op: 'request',
    latency: true,
    sink: false,
    baseline: 'node',
  },
  {
    // One keep-alive connection: each request waits for the last response,
    // so the server's per-request latency, not its batching, sets the rate.
    id: 'http-hello-1',
    title: 'HTTP hello world, wrk -t1 -c1, side by side',
    server: 'http',
    client: 'wrk',
    clientArgs: ['-t1', '-c1'],
    placement: 'cross',
    impls: ['node', 'ringwire'],
    metric: { key: 'req_per_s', label: 'requests/s', unit: '/s' },
    op: 'request',
    latency: true,
    sink: false,
    baseline: 'node',
  },
];

/** Row id `workload/impl`, which --filter matches against. */
export const rowId = (w: Workload, impl: string): string => `${w.id}/${impl}`;

export interface Figures {
  /** The workload's headline number. */
  metric: number;
  p50_us?: number;
  p99_us?: number;
  p999_us?: number;
  max_us?: number;
  ops: number;
  server_cpu_s: number;
  cpu_per_op_ns?: number;
  sent?: number;
  received?: number;
  drop_pct?: number;
}

type J = Record<string, unknown>;
const num = (j: J | undefined, k: string): number | undefined => (j && typeof j[k] === 'number' ? (j[k] as number) : undefined);

/** Reads a run's figures; throws when the JSON lacks what the row needs. */
export function extractFigures(w: Workload, server: J, client: J): Figures {
  const need = (j: J, k: string, who: string): number => {
    const v = num(j, k);
    if (v === undefined) throw new Error(`${who} JSON has no numeric '${k}'`);
    return v;
  };
  // The measured window's CPU when the harness read it (after a warm-up),
  // else the server's own count from `listening` to its end.
  const cpu = num(server, 'cpu_window_s') ?? need(server, 'cpu_user_s', 'server') + need(server, 'cpu_sys_s', 'server');
  const f: Figures = { metric: 0, ops: 0, server_cpu_s: cpu };
  switch (w.client) {
    case 'udp-pingpong':
      f.metric = need(client, 'rtt_per_s', 'client');
      f.ops = need(client, 'round_trips', 'client');
      break;
    case 'tcp-rr':
    case 'wrk':
      f.metric = need(client, 'req_per_s', 'client');
      f.ops = need(client, 'requests', 'client');
      break;
    case 'udp-blast': {
      const sent = need(client, 'sent_total', 'client');
      const got = need(server, 'packets', 'server');
      const secs = need(client, 'duration_s', 'client') + (num(client, 'warmup_s') ?? 0);
      f.sent = sent;
      f.received = got;
      f.drop_pct = sent > 0 ? Math.max(0, (100 * (sent - got)) / sent) : 0;
      f.metric = secs > 0 ? got / secs : 0;
      f.ops = got;
      break;
    }
    case 'tcp-stream':
      f.metric = need(client, 'gbytes_per_s', 'client');
      f.ops = need(client, 'bytes', 'client') / 65536;
      break;
  }
  if (w.latency) {
    f.p50_us = num(client, 'p50_us');
    f.p99_us = num(client, 'p99_us');
    f.p999_us = num(client, 'p999_us');
    f.max_us = num(client, 'max_us');
  }
  if (f.ops > 0) f.cpu_per_op_ns = (cpu * 1e9) / f.ops;
  return f;
}

function toUs(v: string, unit: string): number {
  const x = Number(v);
  switch (unit) {
    case 'us':
      return x;
    case 'ms':
      return x * 1e3;
    case 's':
      return x * 1e6;
    case 'm':
      return x * 60e6;
    default:
      return x;
  }
}

/** wrk --latency output as rw-client-like JSON. */
export function parseWrk(out: string): J {
  const j: J = { impl: 'wrk' };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  if (rps) j.req_per_s = Number(rps[1]);
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)/m.exec(out);
  if (total) {
    j.requests = Number(total[1]);
    j.duration_s = toUs(total[2], total[3]) / 1e6;
  }
  for (const [pct, key] of [['50', 'p50_us'], ['75', 'p75_us'], ['90', 'p90_us'], ['99', 'p99_us']] as const) {
    const m = new RegExp(`^\\s*${pct}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m)`, 'm').exec(out);
    if (m) j[key] = toUs(m[1], m[2]);
  }
  const max = /^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)/m.exec(out);
  if (max) j.max_us = toUs(max[1], max[2]);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (errs) j.socket_errors = errs.slice(1).reduce((a, b) => a + Number(b), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) j.non_2xx = Number(non2xx[1]);
  return j;
}
