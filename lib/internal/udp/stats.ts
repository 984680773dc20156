// Socket option numbers (read from the addon: lib/internal/layout.ts) and
// the per-socket counters, read from a Float64Array over native memory (no
// native call).
export { SOCKOPT } from '../layout';

// The names of struct UdpStats (native/core/udp.h, RW_UDP_STATS), typed here
// for stats()'s type. The addon exports the struct's own list as
// udpLayout.statNames; checkLayout() (lib/internal/layout.ts) refuses an
// addon whose list differs, and test/layout.test.ts checks both.
export const UDP_STAT_NAMES = [
  'rxDatagrams', 'rxBytes', 'txDatagrams', 'txBytes', 'kernelDrops', 'starvations',
  'rearms', 'truncated', 'zcSends', 'zcCopied', 'sendErrors', 'batches',
] as const;

export type UdpStats = Record<(typeof UDP_STAT_NAMES)[number], number>;

export class UdpStatsView {
  constructor(private readonly view: Float64Array) {}

  read(): UdpStats {
    const out = {} as UdpStats;
    for (let i = 0; i < UDP_STAT_NAMES.length; i++) out[UDP_STAT_NAMES[i]] = this.view[i];
    return out;
  }
}
