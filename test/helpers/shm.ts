// Helpers for the region and ring tests: unique names, the C++ peer build
// and the mapping counts the leak checks compare (child processes, fd counts
// and waits live in child.ts, fd.ts, wait.ts, re-exported here).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { root } from './child';

// The general helpers, re-exported for the region and ring suites.
export { collect, dist, nodeChild, root, type ChildResult } from './child';
export { fdCount } from './fd';
export { sleep } from './wait';

let counter = 0;
/** A region name no other test (or test run) uses. */
export function uniqueName(tag: string): string {
  return `t-${tag}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** Removes /dev/shm/ringwire.<name> if a failed test left it. */
export function removeShm(name: string): void {
  try {
    fs.unlinkSync(`/dev/shm/ringwire.${name}`);
  } catch {
    /* already gone */
  }
}

let peerPath: string | undefined;
/** Builds test/fixtures/ring_peer.cc with the addon's flags (native/common-flags.txt). */
export function buildPeer(): string {
  if (peerPath) return peerPath;
  // Into the build tree, not a temporary directory: vitest ends its forks
  // without an 'exit' event, so a per-run directory was never removed.
  const dir = path.join(root, 'build', 'test-fixtures');
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `ring_peer.${process.pid}`);
  const flags = fs.readFileSync(path.join(root, 'native', 'common-flags.txt'), 'utf8').trim().split(/\s+/);
  execFileSync('g++', ['-std=c++17', ...flags, '-I', path.join(root, 'native'),
    path.join(root, 'test', 'fixtures', 'ring_peer.cc'), path.join(root, 'native', 'core', 'shm.cc'), '-o', out], { stdio: 'pipe' });
  const stable = path.join(dir, 'ring_peer');
  fs.renameSync(out, stable); // atomic: a concurrent run never sees half a binary
  peerPath = stable;
  return stable;
}

/** Lines of /proc/self/maps that map shared memory we create (named or memfd). */
export function shmMappings(): string[] {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n')
    .filter((l) => l.includes('/dev/shm/ringwire.') || l.includes('/memfd:ringwire'));
}

