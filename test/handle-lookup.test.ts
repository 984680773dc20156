// Every native function that takes a loop id looks it up type-checked
// (native/binding/handle.h FindAs<T>): a stale id, another facility's id, a
// non-number or a made-up number is -EBADF (or a no-op for close), never a
// pointer of the wrong type dereferenced. Both suites use the epoll backend
// (always available) so they run everywhere.
import { afterEach, describe, expect, it } from 'vitest';
import { EBADF } from '../lib/internal/errno';
import { native } from '../lib/internal/native';
import { encodeSockaddr } from '../lib/internal/sockaddr';
import { createUdpSocket, type UdpSocket } from '../lib/udp';
import { tcpThread } from '../lib/internal/tcp/core';

const open: UdpSocket[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

const idOf = (s: UdpSocket) => (s as unknown as { id: number }).id;
const sa = () => encodeSockaddr(4, '127.0.0.1', 0);

describe('handle lookup: a wrong id is EBADF, never a handle of the wrong type', () => {
  it('a UDP call given the TCP thread id of this loop returns -EBADF', () => {
    const n = native();
    const tcpId = tcpThread().id;
    expect(n.udpBind(tcpId, sa())).toBe(EBADF);
    expect(n.udpSend(tcpId, new Uint8Array(4), 0, 4, null, 1)).toBe(EBADF);
    expect(n.udpGetOpt(tcpId, 1, 7)).toBe(EBADF);
    expect(n.udpRefreshDrops(tcpId)).toBe(EBADF);
    n.udpClose(tcpId); // a no-op: the TCP thread must survive it
    expect(typeof n.tcpPool(tcpId, 1, 64, 4096)).not.toBe('number');
  });

  it('a TCP call given a UDP socket id returns -EBADF', () => {
    const s = createUdpSocket({ type: 'udp4', backend: 'epoll' });
    open.push(s);
    const n = native();
    expect(n.tcpShutdown(idOf(s))).toBe(EBADF);
    expect(n.tcpGetOpt(idOf(s), 1, 7)).toBe(EBADF);
    expect(n.tcpListenStart(idOf(s))).toBe(EBADF);
    // The UDP socket is untouched.
    expect(n.udpBind(idOf(s), sa())).toBe(0);
  });

  it('a closed socket\'s id (stale generation) returns -EBADF once it is gone', async () => {
    const s = createUdpSocket({ type: 'udp4', backend: 'epoll' });
    const id = idOf(s);
    await s.close();
    expect(native().udpBind(id, sa())).toBe(EBADF);
    // A new socket may reuse the slot; the old id still names nothing.
    const t = createUdpSocket({ type: 'udp4', backend: 'epoll' });
    open.push(t);
    expect(native().udpBind(id, sa())).toBe(EBADF);
    expect(native().udpBind(idOf(t), sa())).toBe(0);
  });

  it('ids that are not numbers, negative, or never issued return -EBADF', () => {
    const s = createUdpSocket({ type: 'udp4', backend: 'epoll' });
    open.push(s);
    const n = native();
    for (const bad of [-1, 0x7fffffff, 1 << 20, '0', null, undefined, {}, 1.5e300])
      expect(n.udpRefreshDrops(bad), String(bad)).toBe(EBADF);
    expect(n.udpRefreshDrops(idOf(s))).toBe(0);
  });
});
