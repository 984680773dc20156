#include "shm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rw {
namespace {

constexpr unsigned kMfdCloexec = 0x0001U;
constexpr unsigned kMfdAllowSealing = 0x0002U;
constexpr unsigned kMfdHugetlb = 0x0004U;
constexpr unsigned kMfdHugeShift = 26;
constexpr long kHugetlbfsMagic = 0x958458f6;
constexpr int kMpolBind = 2;
constexpr unsigned kMpolMfMove = 1U << 1;
constexpr int kMadvPopulateWrite = 23;  // Linux 5.14
constexpr int kMaxNumaNodes = 1024;

// A failure: remember which call failed and return -errno.
int Fail(const char** where, const char* name) {
  int e = errno;
  if (where) *where = name;
  return -e;
}

// Closes the fd on scope exit unless released: every early return unwinds.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// Shared lock for as long as we hold the region open; LOCK_NB with a short
// bounded retry because cleanup takes LOCK_EX only for an instant.
int LockShared(int fd) {
  for (int i = 0; i < 40; i++) {
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) return 0;
    if (errno != EWOULDBLOCK && errno != EINTR) return -errno;
    usleep(5000);
  }
  return -EBUSY;
}

int Mbind(void* addr, size_t len, int node) {
  unsigned long mask[kMaxNumaNodes / (8 * sizeof(unsigned long))] = {};
  mask[node / (8 * sizeof(unsigned long))] = 1UL << (node % (8 * sizeof(unsigned long)));
  // maxnode counts one past the last bit the kernel reads (it decrements it).
  long r = syscall(SYS_mbind, addr, len, kMpolBind, mask, kMaxNumaNodes + 1, kMpolMfMove);
  return r < 0 ? -errno : 0;
}

// Maps [0, length) of fd. With a NUMA node the policy must be in place before
// the first fault, so pre-faulting then happens after mbind.
int MapFd(int fd, size_t length, const MapOptions& o, uint8_t** out, const char** where) {
  int flags = MAP_SHARED;
  if (o.populate && o.numaNode < 0) flags |= MAP_POPULATE;
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) return Fail(where, "mmap");
  if (o.numaNode >= 0) {
    int r = o.numaNode < kMaxNumaNodes ? Mbind(p, length, o.numaNode) : -EINVAL;
    if (r < 0) {
      munmap(p, length);
      if (where) *where = "mbind";
      return r;
    }
    if (o.populate && madvise(p, length, kMadvPopulateWrite) < 0) {
      // Before 5.14: a read fault allocates shmem pages too (and, unlike a
      // write, cannot race with a peer's data).
      long page = sysconf(_SC_PAGESIZE);
      volatile const uint8_t* b = static_cast<const uint8_t*>(p);
      for (size_t i = 0; i < length; i += page) (void)b[i];
    }
  }
  *out = static_cast<uint8_t*>(p);
  return 0;
}

uint64_t RealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + ts.tv_nsec / 1000000;
}

// Reads /proc/<pid>/stat: state letter and field 22 (start time in ticks).
bool ReadStat(uint32_t pid, char* state, uint64_t* start) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  // comm may contain spaces and parentheses: fields resume after the last ')'.
  char* p = strrchr(buf, ')');
  if (!p || p[1] != ' ') return false;
  p += 2;
  *state = *p;
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  *start = p ? strtoull(p, nullptr, 10) : 0;
  return true;
}

bool ReadHeader(int fd, RegionHeader* h, uint64_t fileSize) {
  if (fileSize < kRegionHeaderSize) return false;
  if (pread(fd, h, sizeof(*h), 0) != static_cast<ssize_t>(sizeof(*h))) return false;
  return h->magic == kRegionMagic && h->version == kRegionVersion &&
         h->headerSize == kRegionHeaderSize && h->dataSize == fileSize - kRegionHeaderSize;
}

int Fill(int fd, uint64_t total, bool reserve, const MapOptions& opts, bool hugetlb,
         ShmMapping* out, const char** where) {
  if (ftruncate(fd, static_cast<off_t>(total)) < 0) return Fail(where, "ftruncate");
  // Reserving the pages now turns "tmpfs is full" into ENOSPC here instead
  // of a SIGBUS on first touch later.
  if (reserve && fallocate(fd, 0, 0, static_cast<off_t>(total)) < 0 && errno != EOPNOTSUPP)
    return Fail(where, "fallocate");
  int r = MapFd(fd, total, opts, &out->base, where);
  if (r < 0) return r;
  out->length = total;
  out->hugetlb = hugetlb;
  return 0;
}

// shm_open names: "/" then 1..NAME_MAX bytes without another "/" (and not
// "." or ".."), checked here too for C++ callers that skip lib/shm.ts.
bool ValidName(const char* name) {
  if (!name || name[0] != '/') return false;
  size_t n = strlen(name + 1);
  if (n == 0 || n > 255 || strchr(name + 1, '/')) return false;
  return strcmp(name + 1, ".") != 0 && strcmp(name + 1, "..") != 0;
}

}  // namespace

unsigned HugeMemfdFlags(unsigned shift) { return kMfdHugetlb | (shift << kMfdHugeShift); }

uint64_t ProcessStartTime(uint32_t pid) {
  char st;
  uint64_t start = 0;
  return ReadStat(pid, &st, &start) ? start : 0;
}

bool ProcessAlive(uint32_t pid, uint64_t startTime) {
  if (pid == 0) return false;
  char st;
  uint64_t start = 0;
  if (!ReadStat(pid, &st, &start)) return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  if (st == 'Z' || st == 'X') return false;  // exited, not yet reaped
  return startTime == 0 || start == startTime;
}

int ShmCreateNamed(const char* name, uint64_t dataSize, unsigned mode, bool reserve,
                   const MapOptions& opts, ShmMapping* out, const char** where) {
  if (!ValidName(name) || dataSize == 0) {
    if (where) *where = "shm_open";
    return -EINVAL;
  }
  FdGuard fd{shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode)};
  if (fd.fd < 0) return Fail(where, "shm_open");
  // From here on a failure must also remove the name we just created.
  auto undo = [&](int r) {
    shm_unlink(name);
    return r;
  };
  // shm_open applied the umask; the caller asked for exactly `mode`.
  if (fchmod(fd.fd, mode) < 0) return undo(Fail(where, "fchmod"));
  int r = LockShared(fd.fd);
  if (r < 0) {
    if (where) *where = "flock";
    return undo(r);
  }
  r = Fill(fd.fd, dataSize + kRegionHeaderSize, reserve, opts, false, out, where);
  if (r < 0) return undo(r);
  auto* h = reinterpret_cast<RegionHeader*>(out->base);
  h->version = kRegionVersion;
  h->headerSize = kRegionHeaderSize;
  h->dataSize = dataSize;
  h->creatorPid = static_cast<uint32_t>(getpid());
  h->creatorStartTime = ProcessStartTime(h->creatorPid);
  h->createdAtMs = RealtimeMs();
  // release: the fields above are visible before an opener sees the magic.
  __atomic_store_n(&h->magic, kRegionMagic, __ATOMIC_RELEASE);
  out->dataOffset = kRegionHeaderSize;
  out->dataSize = dataSize;
  out->fd = fd.release();
  return 0;
}

int ShmOpenNamed(const char* name, const MapOptions& opts, ShmMapping* out, const char** where) {
  if (!ValidName(name)) {
    if (where) *where = "shm_open";
    return -EINVAL;
  }
  FdGuard fd{shm_open(name, O_RDWR | O_CLOEXEC, 0)};
  if (fd.fd < 0) return Fail(where, "shm_open");
  int r = LockShared(fd.fd);
  if (r < 0) {
    if (where) *where = "flock";
    return r;
  }
  struct stat st;
  if (fstat(fd.fd, &st) < 0) return Fail(where, "fstat");
  if (st.st_nlink == 0) {
    // Removed by a cleanup between our shm_open and flock.
    if (where) *where = "shm_open";
    return -ENOENT;
  }
  RegionHeader h;
  if (!ReadHeader(fd.fd, &h, static_cast<uint64_t>(st.st_size))) {
    if (where) *where = "shm_open";
    // A creator between shm_open and its magic store: try again shortly.
    bool blank = st.st_size == 0 || (pread(fd.fd, &h, sizeof(h), 0) == static_cast<ssize_t>(sizeof(h)) && h.magic == 0);
    return blank ? -EAGAIN : -EBADMSG;
  }
  r = MapFd(fd.fd, static_cast<size_t>(st.st_size), opts, &out->base, where);
  if (r < 0) return r;
  out->length = static_cast<size_t>(st.st_size);
  out->dataOffset = kRegionHeaderSize;
  out->dataSize = h.dataSize;
  out->fd = fd.release();
  return 0;
}

int ShmCreateAnon(const char* name, uint64_t size, unsigned memfdFlags, bool reserve,
                  const MapOptions& opts, ShmMapping* out, const char** where) {
  bool huge = memfdFlags & kMfdHugetlb;
  FdGuard fd{static_cast<int>(syscall(SYS_memfd_create, name, memfdFlags | kMfdCloexec | kMfdAllowSealing))};
  if (fd.fd < 0) return Fail(where, "memfd_create");
  int r = Fill(fd.fd, size, reserve, opts, huge, out, where);
  if (r < 0) return r;
  // Nobody (not even a child we hand the fd to) may shrink the object under
  // our mapping: that would turn our next access into a SIGBUS.
  fcntl(fd.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
  out->dataSize = size;
  out->fd = fd.release();
  return 0;
}

int ShmOpenFd(int fd, const MapOptions& opts, ShmMapping* out, const char** where) {
  FdGuard own{fcntl(fd, F_DUPFD_CLOEXEC, 0)};
  if (own.fd < 0) return Fail(where, "dup");
  struct stat st;
  if (fstat(own.fd, &st) < 0) return Fail(where, "fstat");
  if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
    if (where) *where = "fstat";
    return S_ISREG(st.st_mode) ? -EINVAL : -ENODEV;
  }
  struct statfs sfs;
  bool huge = fstatfs(own.fd, &sfs) == 0 && static_cast<long>(sfs.f_type) == kHugetlbfsMagic;
  int r = MapFd(own.fd, static_cast<size_t>(st.st_size), opts, &out->base, where);
  if (r < 0) return r;
  out->length = static_cast<size_t>(st.st_size);
  out->dataSize = out->length;
  out->hugetlb = huge;
  out->fd = own.release();
  return 0;
}

int ShmOpenPath(const char* path, const MapOptions& opts, ShmMapping* out, const char** where) {
  FdGuard fd{open(path, O_RDWR | O_CLOEXEC)};
  if (fd.fd < 0) return Fail(where, "open");
  return ShmOpenFd(fd.fd, opts, out, where);  // dups; our guard closes the original
}

void ShmUnmap(ShmMapping* m) {
  if (m->base) munmap(m->base, m->length);
  if (m->fd >= 0) close(m->fd);  // drops our flock too
  m->base = nullptr;
  m->fd = -1;
}

int ShmUnlink(const char* name) {
  if (!ValidName(name)) return -EINVAL;
  return shm_unlink(name) < 0 ? -errno : 0;
}
int ShmLock(const ShmMapping& m) { return mlock(m.base, m.length) < 0 ? -errno : 0; }
int ShmUnlock(const ShmMapping& m) { return munlock(m.base, m.length) < 0 ? -errno : 0; }

int ShmAdvise(const ShmMapping& m, size_t offset, size_t length, int advice) {
  // Offsets are relative to the data; madvise wants page-aligned starts.
  long page = sysconf(_SC_PAGESIZE);
  size_t start = m.dataOffset + offset;
  size_t aligned = start & ~static_cast<size_t>(page - 1);
  if (start + length > m.length) return -ERANGE;
  return madvise(m.base + aligned, length + (start - aligned), advice) < 0 ? -errno : 0;
}

int ShmInspect(const char* name, RegionInfo* out) {
  if (!ValidName(name)) return -EINVAL;
  FdGuard fd{shm_open(name, O_RDONLY | O_CLOEXEC, 0)};
  if (fd.fd < 0) return -errno;
  struct stat st;
  if (fstat(fd.fd, &st) < 0) return -errno;
  out->fileSize = static_cast<uint64_t>(st.st_size);
  out->mtimeMs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  RegionHeader h;
  out->valid = ReadHeader(fd.fd, &h, out->fileSize);
  if (out->valid) {
    out->dataSize = h.dataSize;
    out->creatorPid = h.creatorPid;
    out->createdAtMs = h.createdAtMs;
    out->creatorAlive = ProcessAlive(h.creatorPid, h.creatorStartTime);
  }
  // Probing for holders: an exclusive lock succeeds only when nobody holds a
  // shared one. Taken and dropped at once.
  if (flock(fd.fd, LOCK_EX | LOCK_NB) == 0) {
    flock(fd.fd, LOCK_UN);
    out->inUse = false;
  } else {
    out->inUse = errno == EWOULDBLOCK;
  }
  return 0;
}

int ShmRemoveIfStale(const char* name, int64_t minAgeMs) {
  if (!ValidName(name)) return -EINVAL;
  FdGuard fd{shm_open(name, O_RDONLY | O_CLOEXEC, 0)};
  if (fd.fd < 0) return errno == ENOENT ? 0 : -errno;
  // Holding LOCK_EX across the decision and the unlink: an opener that got
  // its fd meanwhile waits, then sees nlink == 0 and reports ENOENT.
  if (flock(fd.fd, LOCK_EX | LOCK_NB) < 0) return errno == EWOULDBLOCK ? 0 : -errno;
  struct stat st;
  if (fstat(fd.fd, &st) < 0) return -errno;
  if (st.st_nlink == 0) return 0;
  RegionHeader h;
  bool stale;
  if (ReadHeader(fd.fd, &h, static_cast<uint64_t>(st.st_size))) {
    stale = !ProcessAlive(h.creatorPid, h.creatorStartTime);
  } else {
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    stale = static_cast<int64_t>(RealtimeMs()) - mtime >= minAgeMs;
  }
  if (!stale) return 0;
  if (shm_unlink(name) < 0) return errno == ENOENT ? 0 : -errno;
  return 1;
}

}  // namespace rw
