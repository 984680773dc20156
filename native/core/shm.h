// Shared-memory regions: named POSIX objects (shm_open) and anonymous memfds,
// mapped MAP_SHARED with optional pre-faulting, NUMA binding, locking and
// madvise hints. Plain C++ (no Node): the bench and test peers link it too.
//
// A *named* region starts with one 4096-byte page holding RegionHeader; the
// user's data follows at offset 4096 (page aligned). The header records who
// created the object so a crashed creator's leftovers can be found and
// removed. Every process that has a named region open holds a shared
// flock() on it, so "in use" is a question the kernel answers for us.
// Anonymous (memfd) regions have no header: they vanish with their last fd
// or mapping.
//
// RegionHeader, byte by byte (u32/u64 little-endian):
//    0  u32 magic             0x48535752, bytes "RWSH"; stored last (release)
//    4  u32 version           1
//    8  u32 headerSize        4096
//   12  u32 flags             0
//   16  u64 dataSize          bytes after the header
//   24  u32 creatorPid
//   28  u32 reserved          0
//   32  u64 creatorStartTime  /proc/<pid>/stat field 22 (defeats pid reuse)
//   40  u64 createdAtMs       CLOCK_REALTIME
//   48  16 bytes reserved     0
#pragma once

#include <cstddef>
#include <cstdint>

namespace rw {

constexpr uint32_t kRegionMagic = 0x48535752u;
constexpr uint32_t kRegionVersion = 1;
constexpr size_t kRegionHeaderSize = 4096;

struct RegionHeader {
  uint32_t magic;
  uint32_t version;
  uint32_t headerSize;
  uint32_t flags;
  uint64_t dataSize;
  uint32_t creatorPid;
  uint32_t reserved0;
  uint64_t creatorStartTime;
  uint64_t createdAtMs;
  uint8_t reserved[16];
};
static_assert(sizeof(RegionHeader) == 64, "region header is one cache line");
static_assert(offsetof(RegionHeader, magic) == 0, "layout");
static_assert(offsetof(RegionHeader, version) == 4, "layout");
static_assert(offsetof(RegionHeader, headerSize) == 8, "layout");
static_assert(offsetof(RegionHeader, flags) == 12, "layout");
static_assert(offsetof(RegionHeader, dataSize) == 16, "layout");
static_assert(offsetof(RegionHeader, creatorPid) == 24, "layout");
static_assert(offsetof(RegionHeader, creatorStartTime) == 32, "layout");
static_assert(offsetof(RegionHeader, createdAtMs) == 40, "layout");
static_assert(offsetof(RegionHeader, reserved) == 48, "layout");

struct ShmMapping {
  uint8_t* base = nullptr;  // start of the whole mapping
  size_t length = 0;        // whole mapping
  size_t dataOffset = 0;    // kRegionHeaderSize for named regions, else 0
  size_t dataSize = 0;
  int fd = -1;
  bool hugetlb = false;
  uint8_t* data() const { return base + dataOffset; }
};

struct MapOptions {
  bool populate = false;  // pre-fault every page (MAP_POPULATE / MADV_POPULATE_WRITE)
  int numaNode = -1;      // bind pages to this node (mbind MPOL_BIND) when >= 0
};

// memfd flags for a huge page size of 2^shift bytes (shift 0 = default size).
unsigned HugeMemfdFlags(unsigned shift);

// Each returns 0 or -errno and, on failure, names the failing call in
// *where. On failure nothing is left behind (no fd, mapping or object).
int ShmCreateNamed(const char* name, uint64_t dataSize, unsigned mode, bool reserve,
                   const MapOptions& opts, ShmMapping* out, const char** where);
int ShmOpenNamed(const char* name, const MapOptions& opts, ShmMapping* out, const char** where);
int ShmCreateAnon(const char* name, uint64_t size, unsigned memfdFlags, bool reserve,
                  const MapOptions& opts, ShmMapping* out, const char** where);
// Maps an fd the caller keeps (we dup it) or a path such as /proc/<pid>/fd/<n>.
int ShmOpenFd(int fd, const MapOptions& opts, ShmMapping* out, const char** where);
int ShmOpenPath(const char* path, const MapOptions& opts, ShmMapping* out, const char** where);
void ShmUnmap(ShmMapping* m);  // munmap + close; safe twice

int ShmUnlink(const char* name);
int ShmLock(const ShmMapping& m);
int ShmUnlock(const ShmMapping& m);
int ShmAdvise(const ShmMapping& m, size_t offset, size_t length, int advice);

struct RegionInfo {
  bool valid = false;        // header present and consistent
  bool inUse = false;        // some process holds it open (flock)
  bool creatorAlive = false;
  uint64_t fileSize = 0, dataSize = 0;
  uint32_t creatorPid = 0;
  uint64_t createdAtMs = 0;
  int64_t mtimeMs = 0;
};
int ShmInspect(const char* name, RegionInfo* out);
// Removes the object when nobody has it open and either its creator is dead
// or its header is invalid and older than minAgeMs. 1 removed, 0 kept.
int ShmRemoveIfStale(const char* name, int64_t minAgeMs);

// Whether pid still runs and (when startTime != 0) is the same process.
bool ProcessAlive(uint32_t pid, uint64_t startTime);
uint64_t ProcessStartTime(uint32_t pid);  // 0 when unknown

}  // namespace rw
