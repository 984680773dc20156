// The cross-compiled linux-arm64 prebuild, run by the official arm64 Node
// binary under qemu-aarch64: it loads, capabilities() says honestly what the
// emulator offers (qemu-user has no io_uring: then the epoll backend carries
// UDP, TCP and the rings), and a UDP echo, a TCP echo and a message-ring
// round trip work. Where the emulator cannot run node at all the test skips
// and prints the reason it measured.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { qemuCannotRunNode, runUnderQemu } from './helpers/arm64';
import { skipReason } from './helpers/skip';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const smoke = fs.readFileSync(path.join(__dirname, 'fixtures', 'arch-smoke.js'), 'utf8');
const armAddon = path.join(root, 'prebuilds', 'linux-arm64', 'ringwire.node');

describe('the arch smoke script', () => {
  it('passes natively (so an emulated failure is the emulated build, not the script)', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'arch-smoke.js'), dist], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ arch: process.arch, udp: 'udp-ping', tcp: 'tcp-ping', ring: '7:ring-ping' });
  });
});

describe('linux-arm64 prebuild under qemu-aarch64', () => {
  it('loads in the official arm64 node; capabilities are honest; UDP echo, TCP echo and a ring round trip work', (ctx) => {
    // Decided here, not at collection: finding out takes up to 30 s of emulation.
    const why = !fs.existsSync(armAddon) ? `${armAddon} not built (npm run build:prebuild)` : qemuCannotRunNode();
    if (skipReason(why)) return ctx.skip();
    const r = runUnderQemu(`process.argv[2] = ${JSON.stringify(dist)};\n${smoke}`, { timeoutMs: 180_000, env: { ...process.env, RINGWIRE_ADDON: armAddon } });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ arch: 'arm64', udp: 'udp-ping', tcp: 'tcp-ping', ring: '7:ring-ping' });
    // No io_uring under qemu-user: it must say so with a reason, and epoll carried the traffic.
    if (!j.io_uring) expect(j.io_uringReason, 'a reason for io_uring being unavailable').toBeTruthy();
    expect(j.backend).toBe(j.io_uring ? 'io_uring' : 'epoll');
  }, 240_000);
});
