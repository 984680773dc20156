// Per-environment state of the addon. Each JS thread (main, every worker)
// gets its own AddonState through napi instance data; nothing is
// process-wide, so several workers can use ringwire at once.
#pragma once

#include <napi.h>

#include <cerrno>
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
#ifdef RINGWIRE_HAVE_TCPDIRECT
void InitTcpdirect(Napi::Env env, Napi::Object exports);  // native/tcpdirect/
#endif

// Small conversions shared by the binding files.
inline Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

// A Buffer copy of `len` bytes, or -ECANCELED when the environment can no
// longer allocate JS memory (a worker being terminated): node-addon-api's
// Buffer::Copy would turn that failure into a fatal error.
inline Napi::Value BytesCopy(Napi::Env env, const void* data, size_t len) {
  napi_value out = nullptr;
  void* copy = nullptr;
  if (napi_create_buffer_copy(env, len, data, &copy, &out) != napi_ok || !out) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return Num(env, -ECANCELED);
  }
  return Napi::Value(env, out);
}

// A boolean argument without coercion: ToBoolean() may run JS, which fails
// in a terminating worker and node-addon-api then aborts the process.
inline bool Flag(const Napi::Value& v) {
  bool b = false;
  if (v.IsEmpty() || napi_get_value_bool(v.Env(), v, &b) != napi_ok) return false;
  return b;
}

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
