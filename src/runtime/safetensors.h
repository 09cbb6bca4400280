// The safetensors file format (HF's weight format): an 8-byte little-endian
// header length N, N bytes of JSON header
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3],
//                                         "data_offsets": [begin, end]}, ...}
// then the raw little-endian tensor bytes; offsets count from the first byte
// after the header.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "support/status.h"

namespace autosp::runtime {

/// Writes `tensors` (in this order; any device, made contiguous on the CPU)
/// and string `metadata` to `path`, atomically: the bytes go to a temporary
/// file in the same directory, which is fsync'ed and then renamed over `path`.
/// On failure `path` is left as it was and the temporary file is removed.
/// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.
Status SaveSafetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// Reads every tensor of a safetensors file into CPU tensors. The header is
/// validated first (dtypes known, offsets inside the file, no two tensors
/// overlapping, byte sizes equal to shape x dtype); errors name the file, the
/// tensor and the byte offset.
StatusOr<std::map<std::string, at::Tensor>> LoadSafetensors(const std::string& path);

/// One safetensors file opened for reading tensor by tensor: the header is
/// read and validated once, each Read then loads one tensor, so a caller can
/// stream a file much larger than memory.
class SafetensorsFile {
 public:
  struct TensorInfo {
    std::string name;
    at::ScalarType dtype;
    std::vector<int64_t> shape;
  };
  static StatusOr<SafetensorsFile> Open(const std::string& path);
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  /// Every tensor of the file, by name.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  /// The tensor `name` as stored (a new CPU tensor); NotFound if absent.
  StatusOr<at::Tensor> Read(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;  ///< [begin, end) per tensor, data-relative
};

/// The XXH3-64 of each tensor's bytes in a safetensors file, by name (a
/// checkpoint manifest keeps them, to name the tensor a corrupt file damaged).
StatusOr<std::map<std::string, uint64_t>> DigestSafetensorsTensors(const std::string& path);

/// The `__metadata__` map of a safetensors file (empty when it has none).
StatusOr<std::map<std::string, std::string>> LoadSafetensorsMetadata(const std::string& path);

/// A tensor a model expects in a weights file: its HF name and shape (the
/// caller above the runtime lists them, e.g. from frontend::ModelParameters).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

/// Loads the parameters `params` of a model into `out` (by HF name; dtypes as
/// stored, which must be floating point) from an HF safetensors file or an HF
/// model folder (hf_weights.h: sharded or not). Strict: missing, unexpected
/// and misshaped tensors are one error listing them. HF buffers that are not
/// parameters (GPT-2's `attn.bias` / `attn.masked_bias`,
/// `rotary_emb.inv_freq`) and a stored `lm_head.weight` of a model with tied
/// embeddings are ignored with a warning on stderr. GPT-2 checkpoints saved
/// without the `transformer.` prefix load too. `out` is changed only on success.
Status LoadParametersInto(const std::string& path, const std::vector<ExpectedTensor>& params,
                          std::map<std::string, at::Tensor>* out);

}  // namespace autosp::runtime
