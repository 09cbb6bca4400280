#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "tokenizer/utf8.h"

namespace autosp::tokenizer {

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Parse(
    std::string_view bytes, const std::string& path, std::string instead_of) {
  std::unique_ptr<SentencePieceTokenizer> tok(new SentencePieceTokenizer());
  tok->instead_of_ = std::move(instead_of);
  tok->processor_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
  if (auto s = tok->processor_->LoadFromSerializedProto(bytes); !s.ok()) {
    return InvalidArgument("{}: not a SentencePiece model: {}", path, s.ToString());
  }
  if (tok->processor_->GetPieceSize() <= 0) {
    return InvalidArgument("{}: the SentencePiece model has no pieces", path);
  }
  // The model's own special ids are the defaults; tokenizer_config.json may override.
  if (const int bos = tok->processor_->bos_id(); bos >= 0) {
    tok->default_bos_token_ = tok->processor_->IdToPiece(bos);
  }
  if (const int eos = tok->processor_->eos_id(); eos >= 0) {
    tok->default_eos_token_ = tok->processor_->IdToPiece(eos);
  }
  return tok;
}

StatusOr<std::vector<int64_t>> SentencePieceTokenizer::Encode(std::string_view text) const {
  if (size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return InvalidArgument("the text is not valid UTF-8 at byte {}", bad);
  }
  std::vector<int> ids;
  if (auto s = processor_->Encode(text, &ids); !s.ok()) {
    return InvalidArgument("SentencePiece cannot encode the text: {}", s.ToString());
  }
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::optional<int64_t> SentencePieceTokenizer::TokenToId(const std::string& token) const {
  const int id = processor_->PieceToId(token);
  // An unknown piece maps to unk's id; only unk's own spelling really is it.
  if (processor_->IsUnknown(id) && processor_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

int64_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

std::string SentencePieceTokenizer::kind() const {
  if (instead_of_.empty()) return "SentencePiece (tokenizer.model)";
  return "SentencePiece (tokenizer.model, instead of tokenizer.json: " + instead_of_ + ")";
}

}  // namespace autosp::tokenizer
