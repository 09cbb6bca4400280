// libFuzzer target: a checkpoint's trainer_state.json. What parses must be in
// the ranges that resuming relies on.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "support/trainer_state_json.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  autosp::StatusOr<autosp::ParsedTrainerState> state =
      autosp::ParseTrainerStateJson(text, "step-000001/trainer_state.json");
  if (!state.ok()) {
    FUZZ_CHECK(!state.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  constexpr int64_t kMax = int64_t{1} << 53;
  FUZZ_CHECK(state->step >= 0 && state->step <= kMax, "step in range");
  FUZZ_CHECK(state->data_position >= 0 && state->data_position <= kMax, "data_position in range");
  if (const auto& l = state->loss_scaler) {
    FUZZ_CHECK(l->scale > 0 && std::isfinite(l->scale), "a positive finite loss scale");
    FUZZ_CHECK(l->hysteresis_left >= 1 && l->iteration >= 0 && l->last_overflow >= -1 &&
                   l->skipped >= 0,
               "loss scaler counters in range");
  }
  if (const auto& s = state->optimizer_shards) {
    FUZZ_CHECK(s->numel >= 0 && s->world >= 1 && s->parts >= 1 && s->bucket >= 1 &&
                   s->parts <= (int64_t{1} << 20),
               "shard layout in range");
  }
  if (const auto& d = state->data_order) {
    FUZZ_CHECK(d->train_samples >= 1 && d->epoch_position >= 0 &&
                   d->epoch_position < d->train_samples &&
                   d->epoch == state->data_position / d->train_samples &&
                   d->epoch_position == state->data_position % d->train_samples,
               "the data order agrees with data_position");
  }
  return 0;
}
