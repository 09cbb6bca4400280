// libFuzzer target: the training config (DeepSpeed JSON + our sections),
// then the batch arithmetic and the mesh check on what parsed. Any input must
// give a Status; an error must say something.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "train/ds_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // A base directory that does not exist: a relative `model` path is a
  // NotFound, never a read of whatever lies around.
  autosp::StatusOr<autosp::train::DsConfig> config =
      autosp::train::ParseDsConfig(text, "fuzz.json", "/nonexistent/autosp-fuzz", true);
  if (!config.ok()) {
    FUZZ_CHECK(!config.status().message().empty(), "an error names what is wrong");
    return 0;
  }
  for (int64_t dp : {1, 2, 3, 8}) {
    autosp::StatusOr<autosp::train::BatchPlan> plan = autosp::train::ResolveBatch(*config, dp);
    if (!plan.ok()) {
      FUZZ_CHECK(!plan.status().message().empty(), "an error names what is wrong");
      continue;
    }
    FUZZ_CHECK(plan->train_batch_size == plan->micro_batch * plan->accumulation * dp,
               "train_batch_size = micro x accumulation x DP");
  }
  for (int64_t world : {1, 4, 6}) {
    autosp::StatusOr<int64_t> dp = autosp::train::ResolveDataParallel(*config, world);
    if (dp.ok()) FUZZ_CHECK(*dp >= 1 && *dp * config->sequence_parallel_size == world, "DP x SP = world");
  }
  return 0;
}
