// libFuzzer target: IR text. Any input must give a Status (never a CHECK or
// a crash), and what parses must round-trip: print -> parse succeeds and
// prints the same text. The verifier runs too, as `autosp ir` does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto graph = autosp::ir::ParseGraph(text, "fuzz.ir");
  if (!graph.ok()) {
    FUZZ_CHECK(!graph.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  const autosp::Status verified = autosp::ir::VerifyGraph(**graph);
  FUZZ_CHECK(verified.ok() || !verified.message().empty(), "an error names what is wrong");
  const std::string printed = autosp::ir::PrintGraph(**graph);
  auto reparsed = autosp::ir::ParseGraph(printed, "printed.ir");
  if (!reparsed.ok()) std::fprintf(stderr, "%s\n---\n%s\n", reparsed.status().ToString().c_str(), printed.c_str());
  FUZZ_CHECK(reparsed.ok(), "the printed graph parses");
  FUZZ_CHECK(autosp::ir::PrintGraph(**reparsed) == printed, "print -> parse -> print is stable");
  return 0;
}
