// libFuzzer target: an HF config.json. What parses must describe a model the
// rest of autosp can use: positive sizes, heads that divide, and (for a small
// enough model) a parameter list whose count adds up.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "frontend/model_config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  autosp::StatusOr<autosp::frontend::ModelConfig> config =
      autosp::frontend::ParseModelConfig(text, "config.json");
  if (!config.ok()) {
    FUZZ_CHECK(!config.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  const autosp::frontend::ModelConfig& c = *config;
  FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_hidden_layers > 0 &&
                 c.num_attention_heads > 0 && c.num_key_value_heads > 0 && c.head_dim > 0,
             "sizes are positive");
  FUZZ_CHECK(c.num_attention_heads % c.num_key_value_heads == 0, "kv heads divide the heads");
  (void)autosp::frontend::ModelConfigSummary(c);
  // The parameter list has entries per layer: only small models, for speed.
  if (c.num_hidden_layers <= 4) {
    const auto params = autosp::frontend::ModelParameters(c);
    FUZZ_CHECK(!params.empty(), "a model has parameters");
    for (const auto& p : params) {
      for (int64_t d : p.shape) FUZZ_CHECK(d > 0, "parameter dims are positive");
    }
    (void)autosp::frontend::NumParameters(c);
  }
  return 0;
}
