// Exporting a checkpoint as an HF model folder, the way
// `transformers.PreTrainedModel.save_pretrained` lays one out:
//
//   OUT/config.json                          the checkpoint's HF config, with
//                                            "dtype" / "torch_dtype" set to the
//                                            dtype written
//   OUT/model.safetensors                    one file when it fits in a shard, else
//   OUT/model-0000i-of-0000n.safetensors     shards in parameter order and
//   OUT/model.safetensors.index.json         {"metadata": {"total_size"}, "weight_map"}
//   OUT/<tokenizer files>                    copied when a tokenizer folder is given
//
// so that `AutoModelForCausalLM.from_pretrained(OUT)` loads it and a run can
// start from it again (`model.pretrained`). The weights are read tensor by
// tensor and written shard by shard: one shard is in memory at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/status.h"
#include "train/ds_config.h"

namespace autosp::train {

struct HfExportOptions {
  FloatType dtype = FloatType::kFp32;  ///< what the weights are written in
  /// A shard ends before a tensor that would take it past this many bytes.
  int64_t max_shard_bytes = int64_t{5} << 30;
  /// An HF config.json to use instead of the checkpoint's (older checkpoints
  /// have none); "" = the checkpoint's config.json.
  std::string model_config;
  /// A folder whose tokenizer files (tokenizer.json, tokenizer_config.json,
  /// special_tokens_map.json, tokenizer.model, vocab.json, merges.txt,
  /// generation_config.json) are copied next to the weights; "" = none.
  std::string tokenizer_dir;
};

struct HfExportReport {
  std::string step_dir;   ///< the checkpoint exported
  bool verified = false;  ///< its manifest's checksums were checked
  int64_t tensors = 0;
  int64_t bytes = 0;               ///< weight bytes written
  std::vector<std::string> files;  ///< every file written, in order
};

/// Exports the checkpoint `checkpoint` (a step directory or a save
/// directory's latest) into `out_dir`, which must not exist or be empty.
StatusOr<HfExportReport> ExportHfFolder(const std::string& checkpoint, const std::string& out_dir,
                                        const HfExportOptions& options);

}  // namespace autosp::train
