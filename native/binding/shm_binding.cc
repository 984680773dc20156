// Region handles for JS. Policy (names, limits, defaults, error messages)
// lives in lib/shm.ts; these functions take validated values and return
// objects or -errno.
#include "shm_binding.h"

#include <sys/mman.h>

#include <cmath>
#include <string>

namespace rw {

RegionHandle* RegionHandle::From(const Napi::Value& v) {
  // The tag is checked on the JS object before the pointer is read.
  auto* h = static_cast<RegionHandle*>(TaggedExternal(v, kRegionTag));
  return h && h->tag == kTag ? h : nullptr;
}

uint32_t* RegionHandle::Word(double offset) const {
  if (!map.base || !(offset >= 0) || std::floor(offset) != offset) return nullptr;
  auto off = static_cast<uint64_t>(offset);
  if (off % 4 || off + 4 > map.dataSize) return nullptr;
  return reinterpret_cast<uint32_t*>(map.data() + off);
}

void RegionHandle::RemoveWait(PendingWait* w) {
  for (auto it = waits_.begin(); it != waits_.end(); ++it) {
    if (*it == w) {
      waits_.erase(it);
      break;
    }
  }
  MaybeUnmap();
}

int RegionHandle::CancelWaits(const uint32_t* word) {
  int n = 0;
  for (PendingWait* w : waits_) {
    if (w->word == word) {
      w->Cancel();
      n++;
    }
  }
  return n;
}

void RegionHandle::ClearOnClose(uint32_t offset, uint32_t value, bool add) {
  for (auto it = clear_.begin(); it != clear_.end(); ++it) {
    if (it->first == offset) {
      clear_.erase(it);
      break;
    }
  }
  if (add) clear_.emplace_back(offset, value);
}

void RegionHandle::MaybeUnmap() {
  if (!closed_ || !waits_.empty() || !map.base) return;
  for (auto& c : clear_) {
    uint32_t* w = Word(c.first);
    uint32_t expected = c.second;
    // Only if it is still ours: a peer may have taken the role over since.
    if (w) __atomic_compare_exchange_n(w, &expected, 0u, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
  }
  clear_.clear();
  ShmUnmap(&map);
}

void RegionHandle::Close(bool fromTeardown) {
  if (closed_) return;
  closed_ = true;
  if (!fromTeardown && !buffer_.IsEmpty()) {
    // JS keeps no way into the memory: every view over it reads as empty.
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    Napi::ArrayBuffer ab = buffer_.Value();
    if (!ab.IsEmpty() && !ab.IsDetached()) ab.Detach();
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
  }
  buffer_.Reset();
  for (PendingWait* w : waits_) w->Cancel();
  MaybeUnmap();
}

void RegionHandle::Release() {
  if (--refs_ > 0) return;
  closed_ = true;
  waits_.clear();
  MaybeUnmap();
  buffer_.Reset();
  if (hook_) napi_remove_env_cleanup_hook(env_, Teardown, this);
  delete this;
}

void RegionHandle::Teardown(void* arg) {
  auto* self = static_cast<RegionHandle*>(arg);
  self->hook_ = false;
  self->tearingDown_ = true;
  self->Close(true);
}

Napi::Object RegionHandle::Expose(Napi::Env env) {
  auto o = Napi::Object::New(env);
  auto ext = Napi::External<RegionHandle>::New(env, this, [](Napi::Env, RegionHandle* h) { h->Release(); });
  refs_++;
  TagExternal(env, ext, kRegionTag);
  napi_add_env_cleanup_hook(env_, Teardown, this);
  hook_ = true;
  auto ab = Napi::ArrayBuffer::New(env, map.data(), map.dataSize,
                                   [](Napi::Env, void*, RegionHandle* h) { h->Release(); }, this);
  if (env.IsExceptionPending()) return o;  // the External's finalizer cleans up
  refs_++;
  buffer_ = Napi::Reference<Napi::ArrayBuffer>::New(ab, 0);
  o.Set("handle", ext);
  o.Set("buffer", ab);
  o.Set("fd", Num(env, map.fd));
  o.Set("size", Num(env, static_cast<double>(map.dataSize)));
  o.Set("hugetlb", map.hugetlb);
  return o;
}

namespace {

Napi::Value Failure(Napi::Env env, int err, const char* where) {
  auto o = Napi::Object::New(env);
  o.Set("errno", Num(env, err));
  o.Set("syscall", Napi::String::New(env, where ? where : "mmap"));
  return o;
}

MapOptions Opts(const Napi::CallbackInfo& info, size_t at) {
  MapOptions o;
  o.populate = Flag(info[at]);
  o.numaNode = info[at + 1].As<Napi::Number>().Int32Value();
  return o;
}

// Runs one of the core open/create calls into a fresh handle.
template <typename F>
Napi::Value Map(Napi::Env env, F&& fn) {
  auto* h = new RegionHandle(env);
  const char* where = nullptr;
  int r = fn(&h->map, &where);
  if (r < 0) {
    delete h;
    return Failure(env, r, where);
  }
  return h->Expose(env);
}

// shmCreateNamed(name, size, mode, reserve, populate, numaNode)
Napi::Value CreateNamed(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  double size = info[1].As<Napi::Number>().DoubleValue();
  unsigned mode = info[2].As<Napi::Number>().Uint32Value();
  bool reserve = Flag(info[3]);
  MapOptions o = Opts(info, 4);
  return Map(info.Env(), [&](ShmMapping* m, const char** w) {
    return ShmCreateNamed(name.c_str(), static_cast<uint64_t>(size), mode, reserve, o, m, w);
  });
}

// shmCreateAnon(label, size, hugeShift (-1 = none), reserve, populate, numaNode)
Napi::Value CreateAnon(const Napi::CallbackInfo& info) {
  std::string label = info[0].As<Napi::String>();
  double size = info[1].As<Napi::Number>().DoubleValue();
  int shift = info[2].As<Napi::Number>().Int32Value();
  bool reserve = Flag(info[3]);
  MapOptions o = Opts(info, 4);
  unsigned flags = shift < 0 ? 0 : HugeMemfdFlags(static_cast<unsigned>(shift));
  return Map(info.Env(), [&](ShmMapping* m, const char** w) {
    return ShmCreateAnon(label.c_str(), static_cast<uint64_t>(size), flags, reserve, o, m, w);
  });
}

// shmOpenNamed(name, populate, numaNode)
Napi::Value OpenNamed(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  MapOptions o = Opts(info, 1);
  return Map(info.Env(), [&](ShmMapping* m, const char** w) { return ShmOpenNamed(name.c_str(), o, m, w); });
}

// shmOpenFd(fd, populate, numaNode)
Napi::Value OpenFd(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  MapOptions o = Opts(info, 1);
  return Map(info.Env(), [&](ShmMapping* m, const char** w) { return ShmOpenFd(fd, o, m, w); });
}

// shmOpenPath(path, populate, numaNode)
Napi::Value OpenPath(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  MapOptions o = Opts(info, 1);
  return Map(info.Env(), [&](ShmMapping* m, const char** w) { return ShmOpenPath(path.c_str(), o, m, w); });
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  RegionHandle* h = RegionHandle::From(info[0]);
  if (h) h->Close(false);
  return info.Env().Undefined();
}

Napi::Value Lock(const Napi::CallbackInfo& info) {
  RegionHandle* h = RegionHandle::From(info[0]);
  if (!h || h->closed()) return Num(info.Env(), -EBADF);
  return Num(info.Env(), Flag(info[1]) ? ShmLock(h->map) : ShmUnlock(h->map));
}

// shmAdvise(handle, offset, length, advice)
Napi::Value Advise(const Napi::CallbackInfo& info) {
  RegionHandle* h = RegionHandle::From(info[0]);
  if (!h || h->closed()) return Num(info.Env(), -EBADF);
  auto off = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
  auto len = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
  return Num(info.Env(), ShmAdvise(h->map, off, len, info[3].As<Napi::Number>().Int32Value()));
}

Napi::Value Unlink(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  return Num(info.Env(), ShmUnlink(name.c_str()));
}

Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>();
  RegionInfo ri;
  int r = ShmInspect(name.c_str(), &ri);
  if (r < 0) return Num(env, r);
  auto o = Napi::Object::New(env);
  o.Set("valid", ri.valid);
  o.Set("inUse", ri.inUse);
  o.Set("creatorAlive", ri.creatorAlive);
  o.Set("fileSize", Num(env, static_cast<double>(ri.fileSize)));
  o.Set("dataSize", Num(env, static_cast<double>(ri.dataSize)));
  o.Set("creatorPid", Num(env, ri.creatorPid));
  o.Set("createdAtMs", Num(env, static_cast<double>(ri.createdAtMs)));
  o.Set("mtimeMs", Num(env, static_cast<double>(ri.mtimeMs)));
  return o;
}

Napi::Value RemoveIfStale(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  auto minAge = static_cast<int64_t>(info[1].As<Napi::Number>().DoubleValue());
  return Num(info.Env(), ShmRemoveIfStale(name.c_str(), minAge));
}

// shmClearOnClose(handle, offset, value, add)
Napi::Value ClearOnClose(const Napi::CallbackInfo& info) {
  RegionHandle* h = RegionHandle::From(info[0]);
  double off = info[1].As<Napi::Number>().DoubleValue();
  if (!h || h->closed() || !h->Word(off)) return Num(info.Env(), -EINVAL);
  h->ClearOnClose(static_cast<uint32_t>(off), info[2].As<Napi::Number>().Uint32Value(), Flag(info[3]));
  return Num(info.Env(), 0);
}

}  // namespace

void InitShm(Napi::Env env, Napi::Object exports) {
  exports.Set("shmCreateNamed", Napi::Function::New(env, CreateNamed, "shmCreateNamed"));
  exports.Set("shmCreateAnon", Napi::Function::New(env, CreateAnon, "shmCreateAnon"));
  exports.Set("shmOpenNamed", Napi::Function::New(env, OpenNamed, "shmOpenNamed"));
  exports.Set("shmOpenFd", Napi::Function::New(env, OpenFd, "shmOpenFd"));
  exports.Set("shmOpenPath", Napi::Function::New(env, OpenPath, "shmOpenPath"));
  exports.Set("shmClose", Napi::Function::New(env, Close, "shmClose"));
  exports.Set("shmLock", Napi::Function::New(env, Lock, "shmLock"));
  exports.Set("shmAdvise", Napi::Function::New(env, Advise, "shmAdvise"));
  exports.Set("shmUnlink", Napi::Function::New(env, Unlink, "shmUnlink"));
  exports.Set("shmInspect", Napi::Function::New(env, Inspect, "shmInspect"));
  exports.Set("shmRemoveIfStale", Napi::Function::New(env, RemoveIfStale, "shmRemoveIfStale"));
  exports.Set("shmClearOnClose", Napi::Function::New(env, ClearOnClose, "shmClearOnClose"));
  auto c = Napi::Object::New(env);
  c.Set("regionHeaderSize", Num(env, kRegionHeaderSize));
  c.Set("regionMagic", Num(env, kRegionMagic));
  auto adv = Napi::Object::New(env);
  adv.Set("normal", Num(env, MADV_NORMAL));
  adv.Set("random", Num(env, MADV_RANDOM));
  adv.Set("sequential", Num(env, MADV_SEQUENTIAL));
  adv.Set("willneed", Num(env, MADV_WILLNEED));
  adv.Set("dontneed", Num(env, MADV_DONTNEED));
  adv.Set("hugepage", Num(env, 14));     // MADV_HUGEPAGE
  adv.Set("nohugepage", Num(env, 15));   // MADV_NOHUGEPAGE
  adv.Set("dontfork", Num(env, MADV_DONTFORK));
  adv.Set("dofork", Num(env, MADV_DOFORK));
  adv.Set("dontdump", Num(env, 16));     // MADV_DONTDUMP
  adv.Set("dodump", Num(env, 17));       // MADV_DODUMP
  adv.Set("populate", Num(env, 23));     // MADV_POPULATE_WRITE (5.14)
  c.Set("madvise", adv);
  exports.Set("shmConstants", c);
}

}  // namespace rw
