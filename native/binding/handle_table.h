// The id table of a thread's loop (LoopBinding): JS holds ids, never
// pointers, so a stale id after close or teardown is a harmless lookup miss.
// An id is (generation << 20) | slot; a slot's generation advances (mod
// 1024) whenever the slot is reused, so an old id does not name the slot's
// next handle. T has an `int id` member, set from Add's result.
// Typed lookups on top of Find: handle.h FindAs<T>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rw {

template <class T>
class HandleTable {
 public:
  static constexpr int kIndexBits = 20;
  static constexpr int kIndexMask = (1 << kIndexBits) - 1;

  // Stores h in a free slot (or a new one) and returns its id.
  int Add(T* h) {
    int index;
    if (!freeIds_.empty()) {
      index = freeIds_.back();
      freeIds_.pop_back();
      gens_[index] = (gens_[index] + 1) & 0x3ff;
    } else {
      index = static_cast<int>(slots_.size());
      slots_.push_back(nullptr);
      gens_.push_back(0);
    }
    slots_[index] = h;
    return static_cast<int>(gens_[index] << kIndexBits) | index;
  }

  // The live entry with exactly this id (slot and generation), else nullptr.
  T* Find(int id) const {
    if (id < 0) return nullptr;
    size_t index = static_cast<size_t>(id & kIndexMask);
    if (index >= slots_.size()) return nullptr;
    T* h = slots_[index];
    return h && h->id == id ? h : nullptr;
  }

  // Frees the slot of a live id; returns what it held (nullptr: no such id).
  T* Remove(int id) {
    T* h = Find(id);
    if (!h) return nullptr;
    int index = id & kIndexMask;
    slots_[index] = nullptr;
    freeIds_.push_back(index);
    return h;
  }

  // Every slot, empty ones as nullptr (environment teardown walks them).
  const std::vector<T*>& slots() const { return slots_; }
  void ClearSlots() { slots_.clear(); }

 private:
  std::vector<T*> slots_;      // index -> entry
  std::vector<uint32_t> gens_;  // generation per slot
  std::vector<int> freeIds_;
};

}  // namespace rw
