// Loads the addon once per JS thread. RINGWIRE_ADDON points at a specific
// .node (used when several builds coexist); otherwise node-gyp-build picks
// build/Release or the matching prebuild.
//
// `Native` is the addon's exports, typed per facility in ./native/ (one file
// per native/binding/*_binding.cc; their exports.Set(...) calls are the
// source of truth): a signature changed on one side only is a compile error
// on the other's call sites. Properties stay writable so tests can patch them.
import * as path from 'node:path';
import type { NativeAdaptivePoll } from './native/adaptive-poll';
import type { NativeAddon } from './native/addon';
import type { NativeBusyPoll } from './native/busy-poll';
import type { NativeEfvi } from './native/efvi';
import type { NativeFutex } from './native/futex';
import type { NativeLoop } from './native/loop';
import type { NativeMsgring } from './native/msgring';
import type { NativePacket } from './native/packet';
import type { NativeProbe } from './native/probe';
import type { NativeSched } from './native/sched';
import type { NativeShm } from './native/shm';
import type { NativeTcp } from './native/tcp';
import type { NativeTcpdirect } from './native/tcpdirect';
import type { NativeUdp } from './native/udp';
import type { NativeXdp } from './native/xdp';

/**
 * Every facility the addon exports. TCPDirect is optional: it is compiled
 * in only with RINGWIRE_TCPDIRECT_ROOT (narrow with hasTcpdirect).
 */
export type Native = NativeAddon & NativeProbe & NativeLoop & NativeBusyPoll & NativeAdaptivePoll & NativeUdp & NativeTcp & NativeSched &
  NativeShm & NativeMsgring & NativeFutex & NativePacket & NativeXdp & NativeEfvi & Partial<NativeTcpdirect>;

let cached: Native | undefined;

// dist/internal/native.js -> the package root (two levels up).
export const packageRoot = path.resolve(__dirname, '..', '..');

export function native(): Native {
  if (cached) return cached;
  const override = process.env.RINGWIRE_ADDON;
  // require() is untyped: the facility interfaces are what this addon's
  // sources export (test/layout.test.ts checks the constants by value).
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const loaded: Native = override ? require(path.resolve(override)) : require('node-gyp-build')(packageRoot);
  cached = loaded;
  return loaded;
}

/** Whether this addon was built with TCPDirect (native/tcpdirect). */
export function hasTcpdirect(n: Native): n is Native & NativeTcpdirect {
  return typeof n.tcpdirectProbe === 'function';
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
