// Per-environment state of the addon. Each JS thread (main, every worker)
// gets its own AddonState through napi instance data; nothing is
// process-wide, so several workers can use ringwire at once.
#pragma once

#include <napi.h>

#include <functional>
#include <vector>

namespace rw {

class LoopBinding;  // the per-thread io_uring, see uring_binding.h

struct AddonState {
  explicit AddonState(napi_env e) : env(e) {}
  napi_env env;
  LoopBinding* loop = nullptr;  // created on first use, owned here
  // Run (in reverse order) when the environment is torn down.
  std::vector<std::function<void()>> teardown;
  ~AddonState() {
    for (auto it = teardown.rbegin(); it != teardown.rend(); ++it) (*it)();
  }
};

inline AddonState* State(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

// Module registration: one function per native facility.
void InitProbe(Napi::Env env, Napi::Object exports);
void InitLoop(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);
void InitTcp(Napi::Env env, Napi::Object exports);
void InitSched(Napi::Env env, Napi::Object exports);
void InitShm(Napi::Env env, Napi::Object exports);
void InitRing(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitPacketRing(Napi::Env env, Napi::Object exports);

// Small conversions shared by the binding files.
inline Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// A typed array argument's bytes, or nullptr (TS validated the type already).
inline uint8_t* BytesOf(const Napi::Value& v, size_t* len) {
  if (!v.IsTypedArray()) {
    *len = 0;
    return nullptr;
  }
  auto ta = v.As<Napi::TypedArray>();
  *len = ta.ByteLength();
  return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
}

}  // namespace rw
