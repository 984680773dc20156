// native/binding/shm_binding.cc: mapped regions. A region is held by JS as
// a tagged External (kRegionTag): native checks the tag before reading the
// pointer, so any other value is "no region" (-EBADF / -EINVAL).
import type { Brand, SystemFailure } from './types';

/** The External naming a mapped region (from shmCreate... and shmOpen...). */
export type RegionHandle = Brand<object, 'RegionHandle'>;

/** A mapped region. */
export interface NativeRegion {
  handle: RegionHandle;
  /** The data area; detached by shmClose. */
  buffer: ArrayBuffer;
  fd: number;
  /** Bytes of the data area. */
  size: number;
  hugetlb: boolean;
}

/** Every open/create returns the region or the failing step (syscall defaults to 'mmap'). */
export type NativeRegionResult = NativeRegion | SystemFailure;

export interface NativeRegionInfo {
  valid: boolean;
  inUse: boolean;
  creatorAlive: boolean;
  fileSize: number;
  dataSize: number;
  creatorPid: number;
  createdAtMs: number;
  mtimeMs: number;
}

/** madvise(2) advice numbers by name. */
export interface NativeMadvise {
  normal: number;
  random: number;
  sequential: number;
  willneed: number;
  dontneed: number;
  hugepage: number;
  nohugepage: number;
  dontfork: number;
  dofork: number;
  dontdump: number;
  dodump: number;
  populate: number;
}

export interface NativeShmConstants {
  regionHeaderSize: number;
  regionMagic: number;
  madvise: NativeMadvise;
}

export interface NativeShm {
  /** reserve: allocate the pages now (fallocate); numaNode -1 = none. */
  shmCreateNamed(name: string, size: number, mode: number, reserve: boolean, populate: boolean, numaNode: number): NativeRegionResult;
  /** A memfd region; hugeShift -1 = no huge pages. */
  shmCreateAnon(label: string, size: number, hugeShift: number, reserve: boolean, populate: boolean, numaNode: number): NativeRegionResult;
  shmOpenNamed(name: string, populate: boolean, numaNode: number): NativeRegionResult;
  shmOpenFd(fd: number, populate: boolean, numaNode: number): NativeRegionResult;
  shmOpenPath(path: string, populate: boolean, numaNode: number): NativeRegionResult;
  /** Detaches the buffer and unmaps once no wait borrows the region. Idempotent. */
  shmClose(handle: RegionHandle): void;
  /** mlock (true) / munlock: 0 or -errno (-EBADF when closed). */
  shmLock(handle: RegionHandle, lock: boolean): number;
  /** madvise over [offset, offset + length) of the data area: 0 or -errno. */
  shmAdvise(handle: RegionHandle, offset: number, length: number, advice: number): number;
  /** shm_unlink: 0 or -errno. */
  shmUnlink(name: string): number;
  /** A region file's header and liveness, or -errno. */
  shmInspect(name: string): NativeRegionInfo | number;
  /** 1 removed, 0 kept (in use or too young), or -errno. */
  shmRemoveIfStale(name: string, minAgeMs: number): number;
  /** At unmap, CAS the word at `offset` from `value` to 0 (add) or forget it: 0 or -EINVAL. */
  shmClearOnClose(handle: RegionHandle, offset: number, value: number, add: boolean): number;
  shmConstants: NativeShmConstants;
}
