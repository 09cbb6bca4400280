#include "train/memory_check.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/units.h"

namespace autosp::train {

StatusOr<HostMemory> ReadHostMemory() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  HostMemory host;
  bool found = false;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") {
      host.available = kib * 1024;
      found = true;
      break;
    }
  }
  if (!found) {
    return Status(StatusCode::kUnavailable, "cannot read MemAvailable from /proc/meminfo");
  }
  if (const char* local = std::getenv("LOCAL_WORLD_SIZE")) {
    const int64_t n = std::atoll(local);
    if (n >= 1) host.local_ranks = n;
  }
  return host;
}

Status CheckRankMemory(const RankMemoryNeed& need, const HostMemory& host) {
  const double have = static_cast<double>(host.per_rank());
  if (need.total() <= have) return Status::Ok();
  return InvalidArgument(
      "this run needs about {} per rank — training state {} + activations {} (memory plan peak "
      "at micro-batch {}, sequence {}) — but this machine has {} available{}. To fit: lower "
      "\"train_micro_batch_size_per_gpu\" or \"data.seq_len\", raise \"sequence_parallel_size\" "
      "(more ranks), set \"autosp.checkpointing\" to \"full\", or use ZeRO stage 2 "
      "(\"zero_optimization.stage\"); `autosp plan` shows what fits",
      FormatBytes(need.total()), FormatBytes(need.state), FormatBytes(need.activations),
      need.micro_batch, need.seq_len, FormatBytes(have),
      host.local_ranks > 1
          ? fmt::format(" per rank ({} for {} ranks on this node)",
                        FormatBytes(static_cast<double>(host.available)), host.local_ranks)
          : std::string());
}

}  // namespace autosp::train
