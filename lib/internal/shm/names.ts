// What a region name is and where it lives: /dev/shm/<REGION_PREFIX><name>,
// with the rules createRegion/openRegion/unlinkRegion check before any
// native call, and which the stale-region janitor (stale.ts) lists by.
import { invalidArgValue, validateString } from '../errors';

/** Every named region ringwire creates lives at /dev/shm/<prefix><name>. */
export const REGION_PREFIX = 'ringwire.';
export const SHM_DIR = '/dev/shm';
// NAME_MAX (255) minus the prefix, with room to spare.
const MAX_NAME = 200;
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export function validateRegionName(name: unknown, argName = 'name'): string {
  validateString(name, argName);
  const n = name as string;
  if (n.length === 0 || n.length > MAX_NAME) throw invalidArgValue(argName, n, `must be 1 to ${MAX_NAME} characters`);
  if (!NAME_RE.test(n) || n.includes('..')) {
    throw invalidArgValue(argName, n, 'may contain only letters, digits, ".", "_" and "-", must not start with "." or "-", and must not contain ".." or "/"');
  }
  return n;
}

/** The POSIX shm name (shm_open's argument) of region `name`. */
export function shmName(name: string): string {
  return `/${REGION_PREFIX}${name}`;
}
