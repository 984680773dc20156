#include "addon.h"

#include <cstring>

namespace rw {
namespace {

Napi::Value StrError(const Napi::CallbackInfo& info) {
  int e = info[0].As<Napi::Number>().Int32Value();
  return Napi::String::New(info.Env(), strerror(e < 0 ? -e : e));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonState(env));
  exports.Set("strerror", Napi::Function::New(env, StrError, "strerror"));
  // Negative errnos native code returns that os.constants.errno has no name
  // for (libuv lacks them); lib/internal/errno.ts reads them from here.
  auto errnos = Napi::Object::New(env);
  errnos.Set("ENOKEY", Num(env, -ENOKEY));
  exports.Set("errno", errnos);
  InitProbe(env, exports);
  InitLoop(env, exports);
  InitUdp(env, exports);
  InitTcp(env, exports);
  InitSched(env, exports);
  InitShm(env, exports);
  InitRing(env, exports);
  InitFutex(env, exports);
  InitPacketRing(env, exports);
#ifdef RINGWIRE_HAVE_TCPDIRECT
  InitTcpdirect(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace rw

static Napi::Object InitRingwire(Napi::Env env, Napi::Object exports) {
  return rw::Init(env, exports);
}
NODE_API_MODULE(ringwire, InitRingwire)
