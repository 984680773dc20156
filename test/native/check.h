// A minimal test runner for the C++ unit tests of native/core (no
// framework, no Node): TEST(name) registers a case, CHECK records a failure
// with file:line and carries on, REQUIRE stops the case. Every case is named
// after the hazard it covers, like the vitest suites.
#pragma once

#include <cstdio>
#include <vector>

namespace rwtest {

struct Case {
  const char* name;
  void (*fn)(bool* failed);
};

inline std::vector<Case>& Registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Register {
  Register(const char* name, void (*fn)(bool*)) { Registry().push_back({name, fn}); }
};

}  // namespace rwtest

#define RW_CAT2(a, b) a##b
#define RW_CAT(a, b) RW_CAT2(a, b)
#define TEST(name)                                                              \
  static void RW_CAT(rw_test_, __LINE__)(bool* rw_failed_);                     \
  static rwtest::Register RW_CAT(rw_reg_, __LINE__)(name, RW_CAT(rw_test_, __LINE__)); \
  static void RW_CAT(rw_test_, __LINE__)(bool* rw_failed_)

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
      *rw_failed_ = true;                                                       \
    }                                                                           \
  } while (0)

#define REQUIRE(cond)                                                           \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "    %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
      *rw_failed_ = true;                                                       \
      return;                                                                   \
    }                                                                           \
  } while (0)
