// The checks of the plain C++ tests: one line per check ("ok: ..." or "FAIL: ..."), then the
// verdict "RESULT: PASS" or "RESULT: FAIL" and the exit code (1 on any failure).
#pragma once

#include <cstdio>

namespace checks {

inline int &failures()
{
  static int n = 0;
  return n;
}
inline void check(bool ok, const char *what)
{
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) failures()++;
}
inline int verdict()
{
  std::printf("RESULT: %s\n", failures() ? "FAIL" : "PASS");
  return failures() ? 1 : 0;
}

} // namespace checks
