// AF_XDP's one export of its own: bpfProgLoadXdp, set by
// native/binding/packet_open_binding.cc next to packetRingOpen (AF_XDP rings
// themselves are opened through packetRingOpen with backend 0, see packet.ts).

export interface NativeBpfLoad {
  /** 0 when the verifier accepted the program (it is closed again), else -errno. */
  result: number;
  /** The verifier's log ('' when it had nothing to say). */
  log: string;
}

export interface NativeXdp {
  /** Loads raw eBPF instructions (struct bpf_insn[]) as an XDP program and closes it: for tests of verifier errors. */
  bpfProgLoadXdp(insns: Uint8Array): NativeBpfLoad;
}
