// ef_vi (native/efvi/, compiled only with RINGWIRE_EFVI_ROOT) exports
// nothing of its own to JavaScript: it is a packet-ring backend, opened
// through packetRingOpen with backend 2 (packet.ts), and the probe reports
// it (efviCompiled, efviDriverOpen in probe.ts). This file exists so the
// facility list reads complete; the interface is deliberately empty.

export type NativeEfvi = Record<never, never>;
