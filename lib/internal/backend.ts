// Which kernel interface a UDP socket or TCP endpoint uses when the caller
// says 'auto': one choice for every socket of the process (the
// RINGWIRE_BACKEND override, else io_uring where the probe finds it).
import { capabilities } from '../capabilities';
import { tcpdirectNote } from './tcpdirect/thread';

export type Backend = 'io_uring' | 'epoll';

let defaultBackend: Backend | undefined;

/** The backend 'auto' resolves to here, and why. */
export function resolveBackend(requested: 'auto' | Backend = 'auto'): { backend: Backend; reason: string } {
  const env = process.env.RINGWIRE_BACKEND;
  if (requested === 'auto' && (env === 'epoll' || env === 'io_uring')) return { backend: env, reason: `RINGWIRE_BACKEND=${env}` };
  if (requested !== 'auto') return { backend: requested, reason: 'requested' };
  if (!defaultBackend) defaultBackend = capabilities().io_uring.available ? 'io_uring' : 'epoll';
  const why = defaultBackend === 'io_uring' ? 'io_uring available' : `io_uring unavailable: ${capabilities().io_uring.reason}`;
  return { backend: defaultBackend, reason: why + tcpdirectNote() };
}
