// Every constant TypeScript mirrors from C++ (lib/internal/layout.ts, the
// stat-name lists, lib/internal/errno.ts), checked by name and value against
// what the loaded addon exports: a kind, offset or counter that drifted
// would otherwise be read under the wrong meaning without any error.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import * as errno from '../lib/internal/errno';
import { SOCKOPT, SOCKOPT_LAYOUT, TCP_EV, TCP_OP, TCP_OP_SYSCALL, UDP_DESC, UDP_EV, checkLayout } from '../lib/internal/layout';
import { native } from '../lib/internal/native';
import { CONN_STAT_NAMES, TCP_STAT_NAMES } from '../lib/internal/tcp/core';
import { UDP_STAT_NAMES } from '../lib/internal/udp/stats';
import { PACKET_STAT_NAMES } from '../lib/packet-ring';
import { BUSY_POLL_STAT_NAMES } from '../lib/busy-poll';

// The native key each mirror entry was read from (kept apart from layout.ts
// on purpose: a renamed native key fails here by name, not only by value).
const mirrors = {
  udpLayout: [
    [UDP_EV, { recv: 'evRecv', sent: 'evSent', recvError: 'evRecvError', closed: 'evClosed' }],
    [UDP_DESC, {
      size: 'descSize', payloadOffset: 'payloadOffset', payloadLength: 'payloadLength', flags: 'flags', nameOffset: 'nameOffset',
      nameLength: 'nameLength', tsSec: 'tsSec', tsNsec: 'tsNsec', truncated: 'flagTruncated', timestamp: 'flagTimestamp',
      headerSpace: 'headerSpace', inlineSend: 'inlineSend',
    }],
  ],
  tcpLayout: [
    [TCP_EV, { accept: 'evAccept', data: 'evData', end: 'evEnd', sent: 'evSent', error: 'evError', connect: 'evConnect', shutdown: 'evShutdown', closed: 'evClosed' }],
    [TCP_OP, { read: 'opRead', write: 'opWrite', connect: 'opConnect', accept: 'opAccept', shutdown: 'opShutdown' }],
  ],
} as const;

describe('layout: constants mirrored from the addon', () => {
  for (const [section, pairs] of Object.entries(mirrors)) {
    it(`every ${section} value TypeScript uses equals the addon's, by name`, () => {
      const nat = native()[section] as Record<string, unknown>;
      for (const [mirror, keys] of pairs) {
        for (const [ours, theirs] of Object.entries(keys)) {
          expect(typeof nat[theirs], `${section}.${theirs}`).toBe('number');
          expect((mirror as Record<string, number>)[ours], `${section}.${theirs}`).toBe(nat[theirs]);
        }
      }
    });

    it(`every event kind and operation ${section} exports has a TypeScript name`, () => {
      const nat = native()[section] as Record<string, unknown>;
      const mirrored = new Set<string>(pairs.flatMap(([, keys]) => Object.values(keys) as string[]));
      const kinds = Object.keys(nat).filter((k) => /^(ev|op)[A-Z]/.test(k));
      expect(kinds.length).toBeGreaterThan(0);
      expect(kinds.filter((k) => !mirrored.has(k))).toEqual([]);
    });
  }

  it('every socket option TypeScript passes to setsockopt is the addon\'s system-header value, by name', () => {
    const nat = native().sockopt as Record<string, unknown>;
    expect(Object.keys(SOCKOPT).length).toBeGreaterThan(20);
    for (const [name, v] of Object.entries(SOCKOPT)) {
      expect(typeof nat[name], name).toBe('number');
      expect(v, name).toBe(nat[name]);
    }
    expect(Object.keys(nat).sort()).toEqual(Object.keys(SOCKOPT).sort());
  });

  it('every option struct size and offset TypeScript fills is the addon\'s, by name', () => {
    const nat = native().sockoptLayout as unknown as Record<string, unknown>;
    for (const [name, v] of Object.entries(SOCKOPT_LAYOUT)) {
      expect(typeof nat[name], name).toBe('number');
      expect(v, name).toBe(nat[name]);
    }
    expect(Object.keys(nat).sort()).toEqual(Object.keys(SOCKOPT_LAYOUT).sort());
  });

  it('event kinds of one facility are distinct (a switch on them cannot confuse two)', () => {
    for (const kinds of [UDP_EV, TCP_EV, TCP_OP]) expect(new Set(Object.values(kinds)).size).toBe(Object.values(kinds).length);
  });

  it('TCP error events name the syscall of their operation', () => {
    expect(TCP_OP_SYSCALL[native().tcpLayout.opConnect]).toBe('connect');
    expect(TCP_OP_SYSCALL[native().tcpLayout.opAccept]).toBe('accept');
    expect(Object.keys(TCP_OP_SYSCALL)).toHaveLength(Object.keys(TCP_OP).length);
  });

  it('the UDP descriptor is whole uint32 words, as udp-batch.ts indexes it', () => {
    for (const k of ['size', 'payloadOffset', 'payloadLength', 'flags', 'nameOffset', 'nameLength', 'tsSec', 'tsNsec'] as const)
      expect(UDP_DESC[k] % 4, k).toBe(0);
  });
});

describe('layout: stat names against the structs they index', () => {
  it('UDP stat names are the addon struct\'s names, in order, and fill the struct', () => {
    expect([...UDP_STAT_NAMES]).toEqual(native().udpLayout.statNames);
    expect(UDP_STAT_NAMES.length).toBe(native().udpLayout.statsFields);
  });

  it('TCP thread and connection stat names are the addon structs\' names, in order', () => {
    expect([...TCP_STAT_NAMES]).toEqual(native().tcpLayout.statNames);
    expect(TCP_STAT_NAMES.length).toBe(native().tcpLayout.statsFields);
    expect([...CONN_STAT_NAMES]).toEqual(native().tcpLayout.connStatNames);
    // The connection slot is padded to its stride; the names cover the used part.
    expect(CONN_STAT_NAMES.length).toBeLessThanOrEqual(native().tcpLayout.connStatsFields);
  });

  it('packet-ring stat names are the addon struct\'s names, in order, and fill the struct', () => {
    expect([...PACKET_STAT_NAMES]).toEqual(native().packetRingLayout.statNames);
    expect(PACKET_STAT_NAMES.length).toBe(native().packetRingLayout.statsFields);
  });

  it('busy-poll stat names are the addon struct\'s names, in order', () => {
    expect([...BUSY_POLL_STAT_NAMES]).toEqual(native().busyPollStatNames);
    expect(() => checkLayout('busyPoll', { statNames: BUSY_POLL_STAT_NAMES })).not.toThrow();
    expect(() => checkLayout('busyPoll', { statNames: BUSY_POLL_STAT_NAMES.slice(1) })).toThrow(/busyPollStatNames is \[/);
  });

  it('a stat-name list that differs from the addon\'s is a load error, not counters silently read as 0', () => {
    const short = UDP_STAT_NAMES.slice(0, -1);
    expect(() => checkLayout('udp', { statNames: short })).toThrow(expect.objectContaining({ code: 'ERR_RINGWIRE_LAYOUT' }));
    const swapped = [UDP_STAT_NAMES[1], UDP_STAT_NAMES[0], ...UDP_STAT_NAMES.slice(2)];
    expect(() => checkLayout('udp', { statNames: swapped })).toThrow(/udpLayout\.statNames/);
    expect(() => checkLayout('udp', { statNames: UDP_STAT_NAMES })).not.toThrow();
  });

  it('the addon refuses a UDP counter array shorter than struct UdpStats (-EINVAL, nothing opened)', () => {
    const short = new Float64Array(native().udpLayout.statsFields - 1);
    expect(native().udpOpen(1, 4, 256, 2048, false, 0, short)).toBe(errno.EINVAL);
    expect(native().udpOpen(1, 4, 256, 2048, false, 0, null)).toBe(errno.EINVAL);
  });
});

describe('layout: named errnos', () => {
  it('every named errno is the negative of os.constants.errno\'s value', () => {
    const names = Object.keys(errno).filter((k) => k !== 'ENOKEY');
    expect(names.length).toBeGreaterThan(10);
    for (const k of names) expect((errno as unknown as Record<string, number>)[k], k).toBe(-(constants.errno as Record<string, number>)[k]);
  });

  it('ENOKEY, which Node has no name for, comes from the addon', () => {
    expect(errno.ENOKEY()).toBe(native().errno.ENOKEY);
    expect(errno.ENOKEY()).toBeLessThan(0);
  });
});
