// A mapped region inside one JS thread, and the futex waits that borrow it.
//
// Lifetime: the mapping is shared by three holders - the JS handle (an
// External), the ArrayBuffer JS reads through, and every futex wait still in
// flight. Close() (explicit, or the environment cleanup hook on worker
// termination / exit) detaches the ArrayBuffer at once, so JS can never touch
// the memory again, and unmaps as soon as no wait is left; the struct itself
// goes when the last holder lets go. Each step is safe to run twice.
#pragma once

#include <atomic>
#include <vector>

#include "../core/shm.h"
#include "addon.h"

namespace rw {

struct PendingWait {
  std::atomic<bool> cancel{false};
  uint32_t* word = nullptr;
  virtual ~PendingWait() = default;
  virtual void Cancel() = 0;  // make the wait end soon (CQE or work completion follows)
};

class RegionHandle {
 public:
  static constexpr uint32_t kTag = 0x52574d50;  // guards against foreign externals

  explicit RegionHandle(napi_env env) : env_(env) {}
  static RegionHandle* From(const Napi::Value& v);

  ShmMapping map;
  uint32_t tag = kTag;

  void Retain() { refs_++; }
  void Release();
  // Detaches (when JS may still run), cancels waits, clears registered
  // words, unmaps once no wait needs the memory.
  void Close(bool fromTeardown);
  bool closed() const { return closed_; }
  bool tearingDown() const { return tearingDown_; }

  // A data-relative u32 word, or nullptr when out of range / misaligned.
  uint32_t* Word(double offset) const;

  void AddWait(PendingWait* w) { waits_.push_back(w); }
  void RemoveWait(PendingWait* w);
  // Ends every wait on `word` (an endpoint closed; the region stays).
  int CancelWaits(const uint32_t* word);

  // Words set back to 0 when the mapping closes, if they still hold `value`
  // (ring roles: a terminated worker must not keep its producer slot).
  void ClearOnClose(uint32_t offset, uint32_t value, bool add);

  Napi::Object Expose(Napi::Env env);  // { handle, buffer, fd, ... }

 private:
  void MaybeUnmap();
  static void Teardown(void* arg);

  napi_env env_;
  int refs_ = 0;
  bool closed_ = false;
  bool tearingDown_ = false;
  bool hook_ = false;
  Napi::Reference<Napi::ArrayBuffer> buffer_;  // weak
  std::vector<PendingWait*> waits_;
  std::vector<std::pair<uint32_t, uint32_t>> clear_;
};

}  // namespace rw
