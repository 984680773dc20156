// Runs every registered case (or those whose name contains argv[1]) and
// exits non-zero when one failed or none matched.
#include <cstring>

#include "check.h"

int main(int argc, char** argv) {
  int ran = 0, failed = 0;
  for (const rwtest::Case& c : rwtest::Registry()) {
    if (argc > 1 && !std::strstr(c.name, argv[1])) continue;
    bool f = false;
    c.fn(&f);
    ran++;
    failed += f;
    std::printf("%s %s\n", f ? "FAIL" : "ok  ", c.name);
  }
  std::printf("%d cases, %d failed\n", ran, failed);
  return failed || ran == 0 ? 1 : 0;
}
