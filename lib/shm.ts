// Shared-memory regions: named POSIX objects or anonymous memfds, mapped
// MAP_SHARED and exposed as an ArrayBuffer over the mapping. Policy lives
// here (limits, defaults, huge-page fallback, error messages; names in
// internal/shm/names.ts, the stale-region janitor in internal/shm/stale.ts); the
// native side does the system calls (native/core/shm.cc).
import * as fs from 'node:fs';
import { capabilities } from './capabilities';
import { invalidArgType, invalidArgValue, outOfRange, systemError, validateBoolean, validateInteger, validateObject, validateOneOf, closedError } from './internal/errors';
import { native } from './internal/native';
import type { NativeRegion, NativeRegionResult, RegionHandle } from './internal/native/shm';
import { EAGAIN, EBADMSG } from './internal/errno';
import { REGION_PREFIX, SHM_DIR, shmName, validateRegionName } from './internal/shm/names';

export { REGION_PREFIX, validateRegionName } from './internal/shm/names';
export { type RegionInfo, cleanupRegions, listRegions } from './internal/shm/stale';

export type Advice =
  | 'normal' | 'random' | 'sequential' | 'willneed' | 'dontneed' | 'hugepage' | 'nohugepage'
  | 'dontfork' | 'dofork' | 'dontdump' | 'dodump' | 'populate';
const ADVICE: readonly Advice[] = [
  'normal', 'random', 'sequential', 'willneed', 'dontneed', 'hugepage', 'nohugepage',
  'dontfork', 'dofork', 'dontdump', 'dodump', 'populate',
];

export interface MapOptions {
  /** Pre-fault every page now (MAP_POPULATE) instead of on first touch. */
  populate?: boolean;
  /** mlock() the mapping; fails with the RLIMIT_MEMLOCK it ran into. */
  lock?: boolean;
  /** Bind the pages to this NUMA node (mbind MPOL_BIND). */
  numaNode?: number;
  /** madvise() hints applied to the whole region, in order. */
  advise?: Advice[];
}

export interface CreateRegionOptions extends MapOptions {
  /** Named region (shm_open) when given; anonymous memfd otherwise. */
  name?: string;
  /** Bytes of data. */
  size: number;
  /** Permission bits of a named region (default 0o600; the umask is not applied). */
  mode?: number;
  /**
   * Back an anonymous region with huge pages (memfd MFD_HUGETLB).
   * 'required' (or true): fail when none are available.
   * 'preferred': fall back to normal pages and report why in `hugePageFallback`.
   */
  hugePages?: boolean | 'required' | 'preferred';
  /** Huge page size in bytes (default: the system default, e.g. 2 MiB). */
  hugePageSize?: number;
  /** Round `size` up to a multiple of the huge page size instead of throwing. */
  roundUp?: boolean;
  /** Do not reserve the backing pages up front (a full /dev/shm then means SIGBUS on touch). */
  sparse?: boolean;
}

export type OpenTarget = string | { name: string } | { fd: number } | { pid: number; fd: number };


/** Something that must stop using the memory when its region closes (rings). */
export interface RegionDependent {
  regionClosed(): void;
}


/** A mapping of shared memory. `buffer` is detached by close(). */
const issuedRegions = new WeakSet<object>();
function issue<T extends object>(r: T): T {
  issuedRegions.add(r);
  return r;
}

export class ShmRegion {
  /** Name given at create/open (without the prefix), null when anonymous. */
  readonly name: string | null;
  /** /dev/shm path of a named region, null when anonymous. */
  readonly path: string | null;
  readonly size: number;
  readonly hugePages: boolean;
  /** Why a 'preferred' huge-page region uses normal pages (undefined otherwise). */
  readonly hugePageFallback: string | undefined;
  readonly numaNode: number | null;
  /** True when this call created the object (false: opened). */
  readonly created: boolean;
  private handle: RegionHandle | null;
  private buf: ArrayBuffer | null;
  private fdNum: number;
  private isLocked = false;
  private readonly dependents = new Set<RegionDependent>();

  /** @internal use createRegion() / openRegion(). */
  constructor(r: NativeRegion, info: { name: string | null; created: boolean; numaNode: number | null; fallback?: string }) {
    // Exported for instanceof and types only: a region comes from the native
    // open that createRegion()/openRegion() made, nothing else.
    if (!issuedRegions.delete(r as object)) throw invalidArgValue('region', r, 'must come from createRegion() or openRegion()');
    this.handle = r.handle;
    this.buf = r.buffer;
    this.fdNum = r.fd;
    this.size = r.size;
    this.hugePages = r.hugetlb;
    this.name = info.name;
    this.path = info.name === null ? null : `${SHM_DIR}/${REGION_PREFIX}${info.name}`;
    this.created = info.created;
    this.numaNode = info.numaNode;
    this.hugePageFallback = info.fallback;
  }

  get closed(): boolean {
    return this.buf === null;
  }

  /** The mapping. Views over it read as empty after close(). */
  get buffer(): ArrayBuffer {
    if (!this.buf) throw closedError('ShmRegion', 'buffer');
    return this.buf;
  }

  /** The region's file descriptor (pass it to a child through stdio, or /proc/<pid>/fd/<fd>). */
  get fd(): number {
    if (!this.buf) throw closedError('ShmRegion', 'fd');
    return this.fdNum;
  }

  get locked(): boolean {
    return this.isLocked;
  }

  /** Locks the pages in RAM (mlock). */
  lock(): void {
    const r = native().shmLock(this.nativeHandle('lock'), true);
    if (r < 0) throw memlockError(r, this.size);
    this.isLocked = true;
  }

  unlock(): void {
    const r = native().shmLock(this.nativeHandle('unlock'), false);
    if (r < 0) throw systemError(r, 'munlock');
    this.isLocked = false;
  }

  /** madvise() over [offset, offset + length) of the data. */
  advise(advice: Advice, offset = 0, length?: number): void {
    validateOneOf(advice, 'advice', ADVICE);
    validateInteger(offset, 'offset', 0, this.size);
    if (length === undefined) length = this.size - offset;
    validateInteger(length, 'length', 0, this.size - offset);
    const code = native().shmConstants.madvise[advice];
    const r = native().shmAdvise(this.nativeHandle('advise'), offset, length, code);
    if (r < 0) throw systemError(r, 'madvise', { message: `advice '${advice}'` });
  }

  /** Unmaps, detaches `buffer`, closes the fd. Idempotent. */
  close(): void {
    if (!this.buf) return;
    for (const d of [...this.dependents]) d.regionClosed();
    this.dependents.clear();
    if (this.handle) native().shmClose(this.handle);
    this.buf = null;
    this.handle = null;
  }

  /** Removes the name (named regions); mappings stay valid until closed. */
  unlink(): void {
    if (this.name === null) throw invalidArgValue('region', 'anonymous', 'must be a named region to unlink');
    unlinkRegion(this.name);
  }

  /** @internal native handle for rings and waits. */
  nativeHandle(op: string): RegionHandle {
    if (!this.buf || !this.handle) throw closedError('ShmRegion', op);
    return this.handle;
  }

  /** @internal */
  addDependent(d: RegionDependent): void {
    this.dependents.add(d);
  }

  /** @internal */
  removeDependent(d: RegionDependent): void {
    this.dependents.delete(d);
  }
}

function memlockError(ret: number, size: number): Error {
  const soft = capabilities().memlock.soft;
  const limit = soft === null ? 'unlimited' : `${soft} bytes`;
  return systemError(ret, 'mlock', {
    message: `cannot lock ${size} bytes; RLIMIT_MEMLOCK is ${limit}. Raise it (ulimit -l, systemd LimitMEMLOCK=, docker --ulimit memlock=) or grant CAP_IPC_LOCK`,
  });
}

interface MapPolicy {
  populate: boolean;
  lock: boolean;
  numaNode: number | null;
  advise: Advice[];
}

function mapPolicy(o: Record<string, unknown>): MapPolicy {
  const populate = o.populate === undefined ? false : validateBoolean(o.populate, 'options.populate');
  const lock = o.lock === undefined ? false : validateBoolean(o.lock, 'options.lock');
  let numaNode: number | null = null;
  if (o.numaNode !== undefined) {
    numaNode = validateInteger(o.numaNode, 'options.numaNode', 0, 1023);
    const nodes = capabilities().numa.nodes;
    if (!nodes.includes(numaNode)) throw outOfRange('options.numaNode', `one of the online NUMA nodes (${nodes.join(', ')})`, numaNode);
  }
  const advise: Advice[] = [];
  if (o.advise !== undefined) {
    if (!Array.isArray(o.advise)) throw invalidArgType('options.advise', 'an array of advice names', o.advise);
    o.advise.forEach((a, i) => advise.push(validateOneOf(a, `options.advise[${i}]`, ADVICE)));
  }
  return { populate, lock, numaNode, advise };
}

function checkResult(r: NativeRegionResult, extra?: { path?: string; message?: string }): NativeRegion {
  if ('errno' in r) throw systemError(r.errno, r.syscall, extra);
  return r;
}

// lock + advise after mapping; on failure the region is closed (and a name
// we created removed) before the error propagates.
function finish(region: ShmRegion, p: MapPolicy): ShmRegion {
  try {
    if (p.lock) region.lock();
    for (const a of p.advise) region.advise(a);
  } catch (e) {
    region.close();
    if (region.created && region.name !== null) native().shmUnlink(shmName(region.name));
    throw e;
  }
  return region;
}

function hugePageSizes(): number[] {
  try {
    return fs.readdirSync('/sys/kernel/mm/hugepages')
      .map((d) => /^hugepages-(\d+)kB$/.exec(d))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]) * 1024);
  } catch {
    return [];
  }
}

function hugeFailure(r: { errno: number; syscall: string }, pageSize: number): string {
  const c = capabilities({ refresh: true }).hugepages;
  const code = systemError(r.errno, r.syscall).code;
  const pool = pageSize === c.pageSizeBytes ? ` (HugePages_Total=${c.total}, HugePages_Free=${c.free})` : '';
  return `${r.syscall} ${code}: no ${pageSize / 1048576} MiB huge pages available${pool}; reserve some with sysctl vm.nr_hugepages=N`;
}

/**
 * The largest region `createRegion` makes: 4 GiB, on every Node version.
 * Node 20 cannot hold a larger ArrayBuffer (`buffer.constants.MAX_LENGTH` is
 * 2^32 there, 2^53-1 from Node 22), and a limit that moved with the Node
 * version would let the same call reserve 8 GiB on one and throw on another.
 */
export const MAX_REGION_SIZE = 2 ** 32;

/** Creates a region: named (shm_open, O_EXCL) when `name` is given, anonymous (memfd) otherwise. */
export function createRegion(options: CreateRegionOptions): ShmRegion {
  const o = validateObject(options, 'options');
  const name = o.name === undefined ? null : validateRegionName(o.name, 'options.name');
  let size = validateInteger(o.size, 'options.size', 1, MAX_REGION_SIZE);
  const policy = mapPolicy(o);
  const sparse = o.sparse === undefined ? false : validateBoolean(o.sparse, 'options.sparse');
  let mode = 0o600;
  if (o.mode !== undefined) {
    if (name === null) throw invalidArgValue('options.mode', o.mode, 'applies to named regions only');
    mode = validateInteger(o.mode, 'options.mode', 0, 0o777);
    if ((mode & 0o600) !== 0o600) throw outOfRange('options.mode', 'a mode that lets the owner read and write (0o600 bits set)', `0o${mode.toString(8)}`);
  }
  let huge: 'required' | 'preferred' | null = null;
  if (o.hugePages !== undefined && o.hugePages !== false) {
    huge = o.hugePages === true ? 'required' : validateOneOf(o.hugePages, 'options.hugePages', ['required', 'preferred'] as const);
    if (name !== null) throw invalidArgValue('options.hugePages', o.hugePages, 'applies to anonymous regions only (named regions live on /dev/shm, which has no huge pages)');
  }
  const roundUp = o.roundUp === undefined ? false : validateBoolean(o.roundUp, 'options.roundUp');
  const numa = policy.numaNode ?? -1;

  if (name !== null) {
    const r = checkResult(native().shmCreateNamed(shmName(name), size, mode, !sparse, policy.populate, numa), { path: `${SHM_DIR}/${REGION_PREFIX}${name}` });
    return finish(new ShmRegion(issue(r), { name, created: true, numaNode: policy.numaNode }), policy);
  }

  let fallback: string | undefined;
  if (huge) {
    const sizes = hugePageSizes();
    const def = capabilities().hugepages.pageSizeBytes ?? 2 * 1048576;
    const pageSize = o.hugePageSize === undefined ? def : validateInteger(o.hugePageSize, 'options.hugePageSize', 1);
    if (!sizes.includes(pageSize)) throw outOfRange('options.hugePageSize', `one of this system's huge page sizes (${sizes.join(', ') || 'none'})`, pageSize);
    if (size % pageSize !== 0) {
      if (!roundUp) throw outOfRange('options.size', `a multiple of the huge page size (${pageSize}); pass roundUp: true to round it`, size);
      size = Math.ceil(size / pageSize) * pageSize;
      if (size > MAX_REGION_SIZE) throw outOfRange('options.size', `<= ${MAX_REGION_SIZE} (MAX_REGION_SIZE) after rounding`, size);
    }
    const shift = Math.log2(pageSize);
    const r: NativeRegionResult = native().shmCreateAnon('ringwire', size, shift, !sparse, policy.populate, numa);
    if (!('errno' in r)) return finish(new ShmRegion(issue(r), { name: null, created: true, numaNode: policy.numaNode }), policy);
    const why = hugeFailure(r, pageSize);
    if (huge === 'required') throw systemError(r.errno, r.syscall, { message: why });
    fallback = why;
    process.emitWarning(`ringwire: huge pages unavailable, using normal pages (${why})`, { code: 'RINGWIRE_HUGEPAGE_FALLBACK' });
  }
  const r = checkResult(native().shmCreateAnon('ringwire', size, -1, !sparse, policy.populate, numa));
  return finish(new ShmRegion(issue(r), { name: null, created: true, numaNode: policy.numaNode, fallback }), policy);
}

// A creator between shm_open and its header store answers EAGAIN; that
// window is microseconds, so a short synchronous retry covers it.
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Opens an existing region: by name, by an fd of this process, or by another process's fd. */
export function openRegion(target: OpenTarget, options: MapOptions = {}): ShmRegion {
  const o = validateObject(options, 'options');
  const policy = mapPolicy(o);
  const numa = policy.numaNode ?? -1;
  let name: string | null = null;
  let r: NativeRegionResult;
  if (typeof target === 'string' || (typeof target === 'object' && target !== null && 'name' in target)) {
    name = validateRegionName(typeof target === 'string' ? target : target.name, 'name');
    for (let attempt = 0; ; attempt++) {
      r = native().shmOpenNamed(shmName(name), policy.populate, numa);
      if (!('errno' in r) || r.errno !== EAGAIN || attempt === 20) break;
      Atomics.wait(sleepCell, 0, 0, 5);
    }
    if ('errno' in r) {
      const path = `${SHM_DIR}/${REGION_PREFIX}${name}`;
      if (r.errno === EBADMSG) {
        const e = systemError(r.errno, r.syscall, { path });
        e.code = 'ERR_RINGWIRE_BAD_REGION';
        e.message = `${r.syscall} ${path}: not a ringwire region (header missing or corrupt)`;
        throw e;
      }
      if (r.errno === EAGAIN) throw systemError(r.errno, r.syscall, { path, message: 'the creator has not finished initialising it' });
      throw systemError(r.errno, r.syscall, { path });
    }
  } else if (typeof target === 'object' && target !== null && 'fd' in target) {
    const fd = validateInteger(target.fd, 'target.fd', 0, 2 ** 31 - 1);
    if ('pid' in target) {
      const pid = validateInteger(target.pid, 'target.pid', 1, 2 ** 31 - 1);
      const path = `/proc/${pid}/fd/${fd}`;
      r = checkResult(native().shmOpenPath(path, policy.populate, numa), { path });
    } else {
      r = checkResult(native().shmOpenFd(fd, policy.populate, numa));
    }
  } else {
    throw invalidArgType('target', 'a region name or an object with name, fd, or pid and fd', target);
  }
  return finish(new ShmRegion(issue(r as NativeRegion), { name, created: false, numaNode: policy.numaNode }), policy);
}

/** Removes a named region's name (like shm_unlink). */
export function unlinkRegion(name: string): void {
  validateRegionName(name);
  const r = native().shmUnlink(shmName(name));
  if (r < 0) throw systemError(r, 'shm_unlink', { path: `${SHM_DIR}/${REGION_PREFIX}${name}` });
}
