// C++ side of the ring benchmark: moves 64-byte messages from one thread to
// another through either
//   textbook  a fixed-slot SPSC queue with cached indices, written here the
//             way the literature describes it (rigtorp/xsk style): the
//             yardstick;
//   ring      ringwire's rw::ring::SpscProducer/SpscConsumer over the same
//             memory layout JS uses (variable-length records, futex-ready
//             commit), one Claim/Commit and Read/Release per message;
//   ring-batch the same ring committing and releasing every 64 messages.
// Prints one JSON line: {"mode":..., "messages":N, "seconds":s, "msgsPerSec":r}.
// Built by bench/ring/run.js with native/common-flags.txt (the addon's flags).
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/msgring.h"

namespace {

constexpr size_t kMsg = 64;

struct Msg {
  uint8_t b[kMsg];
};

// The yardstick: one slot per message, head/tail on their own cache lines,
// each side caching the other's index and refreshing it only when the
// cache says full/empty.
class TextbookQueue {
 public:
  explicit TextbookQueue(size_t capacity) : cap_(capacity), mask_(capacity - 1) {
    slots_ = static_cast<Msg*>(aligned_alloc(64, sizeof(Msg) * capacity));
  }
  ~TextbookQueue() { free(slots_); }
  bool Push(const Msg& m) {
    size_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ == cap_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ == cap_) return false;
    }
    slots_[t & mask_] = m;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  bool Pop(Msg* out) {
    size_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return false;
    }
    *out = slots_[h & mask_];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  const size_t cap_, mask_;
  Msg* slots_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) size_t tail_cache_ = 0;
  alignas(64) std::atomic<size_t> tail_{0};
  alignas(64) size_t head_cache_ = 0;
};

void Pin(int cpu) {
  unsigned n = std::thread::hardware_concurrency();
  if (n < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % n, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Each run fills the payload with the sequence number and checks it on the
// other side, so neither side can skip the copy.
double RunTextbook(uint64_t n) {
  TextbookQueue q(1 << 14);  // 1 MiB of slots, like the ring below
  uint64_t bad = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    Pin(1);
    Msg m;
    for (uint64_t i = 0; i < n; i++) {
      while (!q.Pop(&m)) {
      }
      uint64_t v;
      memcpy(&v, m.b, 8);
      bad += v != i;
    }
  });
  Pin(0);
  Msg m{};
  for (uint64_t i = 0; i < n; i++) {
    memcpy(m.b, &i, 8);
    while (!q.Push(m)) {
    }
  }
  consumer.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (bad) fprintf(stderr, "textbook: %llu bad\n", static_cast<unsigned long long>(bad));
  return s;
}

double RunRing(uint64_t n, unsigned batch) {
  // 1 MiB of data: 72-byte records (8 header + 64 payload) round to 72.
  size_t len = rw::ring::kHeaderSize + (1 << 20);
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) return -1;
  rw::ring::FormatSpsc(mem, len, 1 << 20);
  rw::ring::SpscProducer p;
  rw::ring::SpscConsumer c;
  p.Attach(mem, len);
  c.Attach(mem, len);
  uint64_t bad = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    Pin(1);
    uint32_t got;
    unsigned left = batch;
    for (uint64_t i = 0; i < n; i++) {
      const uint8_t* m;
      while (!(m = c.Read(&got))) c.Release();
      Msg local;
      memcpy(&local, m, kMsg);  // the consumer takes its copy, as Pop() does
      uint64_t v;
      memcpy(&v, local.b, 8);
      bad += v != i;
      if (--left == 0) {  // a countdown, not i % batch: no division per message
        c.Release();
        left = batch;
      }
    }
    c.Release();
  });
  Pin(0);
  Msg m{};
  unsigned left = batch;
  for (uint64_t i = 0; i < n; i++) {
    memcpy(m.b, &i, 8);
    uint8_t* dst;
    while (!(dst = p.Claim(kMsg))) p.Commit();
    memcpy(dst, &m, kMsg);
    if (--left == 0) {
      p.Commit();
      left = batch;
    }
  }
  p.Commit();
  consumer.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (bad) fprintf(stderr, "ring: %llu bad\n", static_cast<unsigned long long>(bad));
  munmap(mem, len);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: ring_bench textbook|ring|ring-batch <messages>\n");
    return 2;
  }
  std::string mode = argv[1];
  uint64_t n = strtoull(argv[2], nullptr, 10);
  double s;
  if (mode == "textbook") s = RunTextbook(n);
  else if (mode == "ring") s = RunRing(n, 1);
  else if (mode == "ring-batch") s = RunRing(n, 64);
  else return 2;
  printf("{\"mode\":\"%s\",\"messages\":%llu,\"seconds\":%.6f,\"msgsPerSec\":%.0f}\n", mode.c_str(),
         static_cast<unsigned long long>(n), s, n / s);
  return 0;
}
