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

/// Loads the parameters `params` of a model from an HF safetensors file into
/// `out` (by HF name; dtypes as stored, which must be floating point). Fails,
/// naming the tensor, on a missing tensor or a wrong shape, and lists tensors
/// that the model does not have. HF buffers that are not parameters (GPT-2's
/// `attn.bias` / `attn.masked_bias`, `rotary_emb.inv_freq`) and a stored
/// `lm_head.weight` of a model with tied embeddings are ignored with a warning
/// on stderr. GPT-2 checkpoints saved without the `transformer.` prefix load too.
/// `out` is changed only on success.
Status LoadParametersInto(const std::string& path, const std::vector<ExpectedTensor>& params,
                          std::map<std::string, at::Tensor>* out);

}  // namespace autosp::runtime
