// Reading the weights of an HF model folder tensor by tensor, so that loading
// never needs the whole model in memory twice (train/hf_export.h writes one):
//
//   DIR/model.safetensors                       one file, or
//   DIR/model.safetensors.index.json            {"metadata": {"total_size": N},
//   DIR/model-00001-of-0000n.safetensors         "weight_map": {name: shard file}}
//   ...
//
// Loading is strict: the tensors stored must be exactly the model's
// parameters (missing, unexpected and misshaped tensors are one error listing
// them all), except HF buffers that are not parameters and a stored lm_head
// of a model with tied embeddings, which HF ignores too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "runtime/safetensors.h"
#include "support/status.h"

namespace autosp::runtime {

/// The safetensors weights of an HF folder (or of one .safetensors file),
/// opened: every header read and validated, no tensor bytes read yet.
class HfWeights {
 public:
  /// `path`: a folder with model.safetensors or with model.safetensors.index.json
  /// and the shards it names; or one .safetensors file.
  static StatusOr<HfWeights> Open(const std::string& path);

  const std::string& path() const { return path_; }
  /// Files the weights are spread over (1 unless sharded).
  size_t num_files() const { return files_.size(); }
  /// Every stored tensor, in file order.
  const std::vector<SafetensorsFile::TensorInfo>& tensors() const { return tensors_; }
  /// Reads one tensor as stored.
  StatusOr<at::Tensor> Read(const std::string& name) const;

 private:
  std::string path_;
  std::vector<SafetensorsFile> files_;
  std::vector<SafetensorsFile::TensorInfo> tensors_;
  std::vector<size_t> file_of_;  ///< per entry of tensors_
};

/// Matches `params` (the model's, in its order) strictly against `weights`,
/// then reads the matched tensors one at a time and hands each to `sink`
/// with its index in `params`. Every tensor handed on is floating point,
/// finite and of the expected shape (dtype as stored). Returns the stored
/// names that were skipped as HF buffers or a tied lm_head, for the caller to
/// mention. GPT-2 files whose names lack "transformer." match too.
StatusOr<std::vector<std::string>> StreamParameters(
    const HfWeights& weights, const std::vector<ExpectedTensor>& params,
    const std::function<Status(size_t index, const at::Tensor& value)>& sink);

}  // namespace autosp::runtime
