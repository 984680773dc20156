// Typed lookup of the handles JS names by id. Every binding function that
// takes a loop id goes through FindAs<T>: the id must be a number, name a
// live entry of this thread's LoopBinding table (the generation bits make a
// stale id miss), and that entry must be exactly a T. Anything else reads as
// "no handle" and the caller returns -EBADF, so a wrong, stale or foreign id
// from JS is an error, never memory of the wrong type. Handles JS holds as
// Externals are checked by their napi_type_tag instead (TaggedExternal,
// addon.h).
#pragma once

#include <type_traits>
#include <typeinfo>

#include "loop_binding.h"

namespace rw {

template <class T>
T* FindAs(LoopBinding* lb, int id) {
  // Final classes: the exact dynamic type is the whole check (no cast chain).
  static_assert(std::is_final<T>::value, "FindAs needs a final handle class");
  if (!lb) return nullptr;
  LoopOwned* o = lb->Find(id);
  return o && typeid(*o) == typeid(T) ? static_cast<T*>(o) : nullptr;
}

// The handle named by argument `arg`; a non-number (which Int32Value would
// turn into a pending exception and id 0) is no handle.
template <class T>
T* FindAs(const Napi::CallbackInfo& info, size_t arg = 0) {
  if (!info[arg].IsNumber()) return nullptr;
  return FindAs<T>(LoopBinding::Existing(info.Env()), info[arg].As<Napi::Number>().Int32Value());
}

// A JS array of names, for the stat-name lists expanded from their X-macros
// (RW_UDP_STATS, RW_TCP_STATS...): TS reads them instead of typing them.
inline Napi::Array NameList(Napi::Env env, std::initializer_list<const char*> names) {
  Napi::Array out = Napi::Array::New(env, names.size());
  uint32_t i = 0;
  for (const char* n : names) out.Set(i++, Napi::String::New(env, n));
  return out;
}
#define RW_STAT_NAME(name) #name,

}  // namespace rw
