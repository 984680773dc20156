// Converts the native probe's results into a plain object; the policy of
// what they mean (usable or not, and why) lives in lib/capabilities.ts.
#include "../core/probe.h"
#include "addon.h"

namespace rw {
namespace {

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ProbeResult r;
  RunProbe(&r);
  auto u = Napi::Object::New(env);
  u.Set("setup", Num(env, r.uring.setup));
  u.Set("setupSingleIssuer", Num(env, r.uring.setupSingleIssuer));
  u.Set("features", Num(env, r.uring.features));
  u.Set("opRecvmsg", r.uring.opRecvmsg);
  u.Set("opSend", r.uring.opSend);
  u.Set("opSendZc", r.uring.opSendZc);
  u.Set("opSendmsgZc", r.uring.opSendmsgZc);
  u.Set("opAccept", r.uring.opAccept);
  u.Set("opConnect", r.uring.opConnect);
  u.Set("opShutdown", r.uring.opShutdown);
  u.Set("opAsyncCancel", r.uring.opAsyncCancel);
  u.Set("opLinkTimeout", r.uring.opLinkTimeout);
  u.Set("opFutexWait", r.uring.opFutexWait);
  u.Set("opFutexWake", r.uring.opFutexWake);
  u.Set("bufRing", Num(env, r.uring.bufRing));
  u.Set("multishotRecv", Num(env, r.uring.multishotRecv));
  u.Set("multishotAccept", Num(env, r.uring.multishotAccept));
  u.Set("bundles", r.uring.bundles);
  u.Set("taskrunFlag", Num(env, r.uring.taskrunFlag));
  u.Set("napiRegister", Num(env, r.uring.napiRegister));
  auto bp = Napi::Object::New(env);
  bp.Set("soBusyPoll", Num(env, r.busyPoll.soBusyPoll));
  bp.Set("soPreferBusyPoll", Num(env, r.busyPoll.soPreferBusyPoll));
  bp.Set("soBusyPollBudget", Num(env, r.busyPoll.soBusyPollBudget));
  auto o = Napi::Object::New(env);
  o.Set("uring", u);
  o.Set("busyPoll", bp);
  o.Set("afXdpSocket", Num(env, r.afXdpSocket));
  o.Set("bpfProgLoad", Num(env, r.bpfProgLoad));
  o.Set("capgetResult", Num(env, r.capgetResult));
  // 64-bit capability mask split in two exact halves for JS.
  o.Set("capEffectiveLo", Num(env, static_cast<double>(r.capEffective & 0xffffffffu)));
  o.Set("capEffectiveHi", Num(env, static_cast<double>(r.capEffective >> 32)));
  o.Set("memlockSoft", Num(env, static_cast<double>(r.memlockSoft)));
  o.Set("memlockHard", Num(env, static_cast<double>(r.memlockHard)));
  o.Set("nofileSoft", Num(env, static_cast<double>(r.nofileSoft)));
  o.Set("nofileHard", Num(env, static_cast<double>(r.nofileHard)));
  o.Set("memfdHuge", Num(env, r.memfdHuge));
  o.Set("efviCompiled", r.efviCompiled);
  o.Set("efviDriverOpen", Num(env, r.efviDriverOpen));
  return o;
}

}  // namespace

void InitProbe(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
}

}  // namespace rw
