// FUZZ_CHECK for the libFuzzer targets: a property of a parser's result that
// must hold for every input. A failure prints the property and aborts, which
// libFuzzer reports as a crash and saves the input (crash-<sha1>).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                  \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s (%s)\n", __FILE__, \
                   __LINE__, #cond, what);                                      \
      std::abort();                                                             \
    }                                                                           \
  } while (0)
