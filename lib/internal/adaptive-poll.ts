// The adaptive poll before sleeping (native/binding/adaptive_poll.cc): its
// policy. Each thread's loop starts with the process-wide ceiling below;
// adaptivePoll() in lib/busy-poll.ts changes it per thread.

/** Default ceiling, µs: CPU a thread may spend per wake-up to avoid sleeping. */
export const ADAPTIVE_POLL_DEFAULT_US = 50;
/** Largest ceiling accepted, µs (KVM's own halt_poll_ns default is 200 µs). */
export const ADAPTIVE_POLL_MAX_US = 10_000;

export interface AdaptivePollSetting {
  /** The ceiling in µs; 0 = off. */
  maxUs: number;
  /** Where it came from. */
  source: 'default' | 'RINGWIRE_ADAPTIVE_POLL_US' | 'adaptivePoll()';
}

let warned = false;

/** RINGWIRE_ADAPTIVE_POLL_US (0 = off), else the default. A bad value is ignored with one warning. */
export function adaptivePollFromEnv(): AdaptivePollSetting {
  const raw = process.env.RINGWIRE_ADAPTIVE_POLL_US;
  if (raw === undefined || raw === '') return { maxUs: ADAPTIVE_POLL_DEFAULT_US, source: 'default' };
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || v > ADAPTIVE_POLL_MAX_US) {
    if (!warned) {
      warned = true;
      process.emitWarning(`RINGWIRE_ADAPTIVE_POLL_US=${raw} is not a number of µs in 0..${ADAPTIVE_POLL_MAX_US}; using ${ADAPTIVE_POLL_DEFAULT_US}`, {
        code: 'RINGWIRE_BAD_ENV',
      });
    }
    return { maxUs: ADAPTIVE_POLL_DEFAULT_US, source: 'default' };
  }
  return { maxUs: v, source: 'RINGWIRE_ADAPTIVE_POLL_US' };
}
