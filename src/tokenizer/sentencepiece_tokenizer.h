// A SentencePiece model file (`tokenizer.model`: Llama-2, Mistral, Gemma,
// T5 ...), BPE or unigram, encoded by Debian's libsentencepiece: the same
// library the `sentencepiece` Python package wraps, so the ids are the ones
// SentencePieceProcessor.encode gives (the model's own normalizer included).
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace autosp::tokenizer {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  /// Loads the serialized model `bytes`; errors name `path`. `instead_of`:
  /// why the directory's tokenizer.json is not used (shown by kind()), or "".
  static StatusOr<std::unique_ptr<SentencePieceTokenizer>> Parse(std::string_view bytes,
                                                                 const std::string& path,
                                                                 std::string instead_of = "");
  ~SentencePieceTokenizer() override;

  StatusOr<std::vector<int64_t>> Encode(std::string_view text) const override;
  std::optional<int64_t> TokenToId(const std::string& token) const override;
  int64_t vocab_size() const override;
  std::string kind() const override;

 private:
  SentencePieceTokenizer() = default;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string instead_of_;
};

}  // namespace autosp::tokenizer
