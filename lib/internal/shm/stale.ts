// The stale-region janitor: lists ringwire's named regions with who made
// them, and removes those left by crashed processes (listRegions,
// cleanupRegions; public through lib/shm.ts). The final decision to remove
// is taken again natively under an exclusive lock (native/core/shm.cc).
import * as fs from 'node:fs';
import { validateBoolean, validateInteger, validateObject } from '../errors';
import { native } from '../native';
import { REGION_PREFIX, SHM_DIR } from './names';

export interface RegionInfo {
  name: string;
  path: string;
  size: number;
  valid: boolean;
  inUse: boolean;
  creatorPid: number | null;
  creatorAlive: boolean;
  createdAt: Date | null;
  /** Nobody has it open and its creator is gone (or it never got a valid header). */
  stale: boolean;
}

const DEFAULT_MIN_AGE_MS = 10_000;

/** Every ringwire region on this machine, with who made it and whether it is stale. */
export function listRegions(options: { minAgeMs?: number } = {}): RegionInfo[] {
  validateObject(options, 'options');
  const minAge = options.minAgeMs === undefined ? DEFAULT_MIN_AGE_MS : validateInteger(options.minAgeMs, 'options.minAgeMs', 0);
  let entries: string[];
  try {
    entries = fs.readdirSync(SHM_DIR);
  } catch {
    return [];
  }
  const out: RegionInfo[] = [];
  for (const e of entries) {
    if (!e.startsWith(REGION_PREFIX)) continue;
    const name = e.slice(REGION_PREFIX.length);
    const i = native().shmInspect(`/${e}`);
    if (typeof i === 'number') continue;  // vanished meanwhile
    const stale = !i.inUse && (i.valid ? !i.creatorAlive : Date.now() - i.mtimeMs >= minAge);
    out.push({
      name,
      path: `${SHM_DIR}/${e}`,
      size: i.valid ? i.dataSize : i.fileSize,
      valid: i.valid,
      inUse: i.inUse,
      creatorPid: i.valid ? i.creatorPid : null,
      creatorAlive: i.creatorAlive,
      createdAt: i.valid ? new Date(i.createdAtMs) : null,
      stale,
    });
  }
  return out;
}

/**
 * Removes regions left by crashed processes: nobody holds them open and
 * their creator is dead (or, without a valid header, they are older than
 * minAgeMs). Returns the names removed (dryRun: that would be removed).
 */
export function cleanupRegions(options: { minAgeMs?: number; dryRun?: boolean } = {}): string[] {
  validateObject(options, 'options');
  const minAge = options.minAgeMs === undefined ? DEFAULT_MIN_AGE_MS : validateInteger(options.minAgeMs, 'options.minAgeMs', 0);
  const dryRun = options.dryRun === undefined ? false : validateBoolean(options.dryRun, 'options.dryRun');
  const removed: string[] = [];
  for (const info of listRegions({ minAgeMs: minAge })) {
    if (!info.stale) continue;
    if (dryRun) {
      removed.push(info.name);
      continue;
    }
    // Decided again under an exclusive lock in native code: the listing is
    // only a hint, a process may have opened it since.
    const r = native().shmRemoveIfStale(`/${REGION_PREFIX}${info.name}`, minAge);
    if (r === 1) removed.push(info.name);
  }
  return removed;
}
