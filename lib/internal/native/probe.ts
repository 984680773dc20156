// native/binding/probe_binding.cc (results of native/core/probe.h RunProbe).
// Numbers named "result" are a syscall's result: >= 0 success, else -errno.

export interface NativeUringProbe {
  /** io_uring_queue_init result (0 or -errno). */
  setup: number;
  /** SINGLE_ISSUER|DEFER_TASKRUN ring setup result (0 or -errno). */
  setupSingleIssuer: number;
  /** io_uring_params.features bit mask. */
  features: number;
  opRecvmsg: boolean;
  opSend: boolean;
  opSendZc: boolean;
  opSendmsgZc: boolean;
  opAccept: boolean;
  opConnect: boolean;
  opShutdown: boolean;
  opAsyncCancel: boolean;
  opLinkTimeout: boolean;
  opFutexWait: boolean;
  opFutexWake: boolean;
  /** register_buf_ring result (0 or -errno). */
  bufRing: number;
  /** > 0: a real multishot recv delivered with F_MORE; else 0 or -errno. */
  multishotRecv: number;
  /** > 0: a real multishot accept delivered with F_MORE; else 0 or -errno. */
  multishotAccept: number;
  /** IORING_FEAT_RECVSEND_BUNDLE. */
  bundles: boolean;
  /** COOP_TASKRUN|TASKRUN_FLAG ring setup result (0 or -errno). */
  taskrunFlag: number;
  /** IORING_REGISTER_NAPI result (0 or -errno). */
  napiRegister: number;
}

export interface NativeBusyPollProbe {
  /** setsockopt results (0 or -errno). */
  soBusyPoll: number;
  soPreferBusyPoll: number;
  soBusyPollBudget: number;
}

export interface NativeProbeResult {
  uring: NativeUringProbe;
  busyPoll: NativeBusyPollProbe;
  /** socket(AF_XDP) result: >= 0 (the fd, closed again) or -errno. */
  afXdpSocket: number;
  /** A trivial XDP program load: >= 0 or -errno. */
  bpfProgLoad: number;
  /** capget() result (0 or -errno). */
  capgetResult: number;
  /** The effective capability set, low and high 32 bits. */
  capEffectiveLo: number;
  capEffectiveHi: number;
  /** RLIMIT_MEMLOCK / RLIMIT_NOFILE; RLIM_INFINITY reads as 2**64 - 1 (rounded to a double). */
  memlockSoft: number;
  memlockHard: number;
  nofileSoft: number;
  nofileHard: number;
  /** memfd_create(MFD_HUGETLB) result: >= 0 or -errno. */
  memfdHuge: number;
  efviCompiled: boolean;
  /** ef_driver_open() result when compiled in, else -ENOSYS. */
  efviDriverOpen: number;
}

export interface NativeProbe {
  probe(): NativeProbeResult;
}
