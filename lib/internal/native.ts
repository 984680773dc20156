// Loads the addon once per JS thread. RINGWIRE_ADDON points at a specific
// .node (used when several builds coexist); otherwise node-gyp-build picks
// build/Release or the matching prebuild.
import * as path from 'node:path';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Native = Record<string, any>;

let cached: Native | undefined;

// dist/internal/native.js -> the package root (two levels up).
export const packageRoot = path.resolve(__dirname, '..', '..');

export function native(): Native {
  if (cached) return cached;
  const override = process.env.RINGWIRE_ADDON;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  cached = override ? require(path.resolve(override)) : require('node-gyp-build')(packageRoot);
  return cached!;
}

/** The load error, if the addon cannot be loaded here (never throws). */
export function nativeLoadError(): Error | undefined {
  try {
    native();
    return undefined;
  } catch (err) {
    return err as Error;
  }
}
