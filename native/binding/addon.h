// Per-environment state of the addon. Each JS thread (main, every worker)
// gets its own AddonState through napi instance data; nothing is
// process-wide, so several workers can use ringwire at once.
#pragma once

#include <napi.h>

#include <cerrno>
#include <functional>
#include <vector>

namespace rw {

class LoopBinding;  // the per-thread io_uring, see loop_binding.h

struct AddonState {
  explicit AddonState(napi_env e) : env(e) {}
  napi_env env;
  LoopBinding* loop = nullptr;  // created on first use, owned here
  void* futexWaiter = nullptr;  // futex_binding.cc's waiter thread; its own cleanup hook ends it
  // Run (in reverse order) when the environment is torn down. Used by the
  // TCPDirect binding (native/tcpdirect/zf_binding.cc), compiled only with
  // RINGWIRE_TCPDIRECT_ROOT: its pool must outlive every stack of the env.
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

// Type tags for every External whose pointer native code trusts (N-API 8,
// napi_type_tag_object): a handle is only dereferenced after its tag was
// checked, so a foreign External (another facility's handle, another
// addon's) reads as "no handle" (-EBADF / TypeError in TS), never as memory
// of the wrong type. The values are random 128-bit constants.
inline constexpr napi_type_tag kRegionTag = {0x8d3c0b6f2a5e4c19ULL, 0x9b7e21d4c3a0f658ULL};
inline constexpr napi_type_tag kPacketRingTag = {0x4f1a9c2e7b3d6085ULL, 0xe2c75a1b09d4f36cULL};

// Tags `ext`; false if tagging failed (an exception may be pending).
inline bool TagExternal(napi_env env, napi_value ext, const napi_type_tag& tag) {
  return napi_type_tag_object(env, ext, &tag) == napi_ok;
}

// The External's pointer if `v` is an External carrying `tag`, else nullptr.
inline void* TaggedExternal(const Napi::Value& v, const napi_type_tag& tag) {
  if (v.IsEmpty() || !v.IsExternal()) return nullptr;
  bool ok = false;
  if (napi_check_object_type_tag(v.Env(), v, &tag, &ok) != napi_ok || !ok) return nullptr;
  void* data = nullptr;
  if (napi_get_value_external(v.Env(), v, &data) != napi_ok) return nullptr;
  return data;
}

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
// The data pointer comes from napi_get_typedarray_info itself (already
// offset by byteOffset): it is valid for views over a SharedArrayBuffer too,
// where napi_get_arraybuffer_info on the backing buffer fails and leaves a
// null base that byteOffset would turn into a wild pointer. A detached
// buffer reads as nullptr with length 0.
inline uint8_t* BytesOf(const Napi::Value& v, size_t* len) {
  *len = 0;
  if (v.IsEmpty() || !v.IsTypedArray()) return nullptr;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value ab = nullptr;
  size_t offset = 0;
  if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, &ab, &offset) != napi_ok || !data)
    return nullptr;
  size_t elem = 1;
  switch (type) {
    case napi_int16_array: case napi_uint16_array: elem = 2; break;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
    case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
    default: break;
  }
  *len = length * elem;
  return static_cast<uint8_t*>(data);
}

}  // namespace rw
