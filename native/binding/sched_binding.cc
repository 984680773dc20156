// Thread placement: pin the calling JS thread (main or worker) to CPUs and
// read the CPU it runs on. sched_setaffinity(0) acts on the calling thread
// only, which is what a worker pinning itself wants.
#include <sched.h>

#include <cerrno>

#include "addon.h"

namespace rw {
namespace {

// pinThread(cpus: number[]) -> 0 | -errno
Napi::Value PinThread(const Napi::CallbackInfo& info) {
  Napi::Array cpus = info[0].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < cpus.Length(); i++) {
    int c = cpus.Get(i).As<Napi::Number>().Int32Value();
    if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
  }
  return Num(info.Env(), sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0);
}

Napi::Value ThreadAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) < 0) return Num(env, -errno);
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) out.Set(n++, Num(env, c));
  return out;
}

Napi::Value CurrentCpu(const Napi::CallbackInfo& info) {
  int c = sched_getcpu();
  return Num(info.Env(), c < 0 ? -errno : c);
}

}  // namespace

void InitSched(Napi::Env env, Napi::Object exports) {
  exports.Set("pinThread", Napi::Function::New(env, PinThread, "pinThread"));
  exports.Set("threadAffinity", Napi::Function::New(env, ThreadAffinity, "threadAffinity"));
  exports.Set("currentCpu", Napi::Function::New(env, CurrentCpu, "currentCpu"));
}

}  // namespace rw
