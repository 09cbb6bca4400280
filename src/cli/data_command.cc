// `autosp data prepare --tokenizer byte|DIR IN... -o OUT`: text files to a
// token file (.tok with document boundaries, or .npy). `autosp data tokenize
// --tokenizer DIR IN...`: the ids of each document as a JSON array per line
// on stdout (to inspect a tokenizer, and what the HF cross-check test reads).
// Documents: a .jsonl file holds one per line (--text-key), any other file
// is one (train/tokenize_files.h).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include <fmt/ranges.h>

#include "cli/commands.h"
#include "cli/validators.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"
#include "train/tokenize_files.h"

namespace autosp::cli {
namespace {

struct DataArgs {
  std::string tokenizer = "byte";
  std::vector<std::string> inputs;
  std::string output;
  std::string text_key = "text";
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
};

[[noreturn]] void Fail(const char* command, int code, const std::string& message) {
  std::fprintf(stderr, "autosp data %s: %s\n", command, message.c_str());
  throw CLI::RuntimeError(code);
}

std::string Count(int64_t n) {
  if (n >= 1'000'000) return fmt::format("{:.1f}M", static_cast<double>(n) / 1e6);
  if (n >= 10'000) return fmt::format("{:.1f}K", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

// One progress line on stderr: redrawn in place on a terminal, else one line each time.
void PrintProgress(const train::TokenizeProgress& p, bool tty) {
  const double rate = p.seconds > 0 ? static_cast<double>(p.tokens) / p.seconds : 0;
  std::fprintf(stderr, "%s%lld/%lld files, %s documents, %s tokens, %s tokens/s%s", tty ? "\r" : "",
               static_cast<long long>(p.files_done), static_cast<long long>(p.files_total),
               Count(p.documents).c_str(), Count(p.tokens).c_str(),
               Count(static_cast<int64_t>(rate)).c_str(), tty ? "" : "\n");
  std::fflush(stderr);
}

std::unique_ptr<tokenizer::Tokenizer> LoadOrFail(const char* command, const std::string& dir) {
  StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::LoadTokenizer(dir);
  if (!tok.ok()) Fail(command, 2, tok.status().message());
  return std::move(*tok);
}

void PrepareByte(const DataArgs& args) {
  train::TokenData data;
  Status s = train::ForEachDocument(args.inputs, args.text_key,
                                    [&](const std::string&, int64_t, std::string_view text) {
                                      data.AddDocument(train::ByteTokenize(text));
                                      return Status::Ok();
                                    });
  if (!s.ok()) Fail("prepare", 2, s.message());
  if (Status w = train::WriteTokenFile(args.output, data); !w.ok()) Fail("prepare", 2, w.message());
  std::printf("wrote %s: %zu tokens, %zu documents, byte tokenizer (vocab 256)\n",
              args.output.c_str(), data.tokens.size(), data.doc_starts.size());
}

void Prepare(const DataArgs& args) {
  if (args.tokenizer == "byte") return PrepareByte(args);
  std::unique_ptr<tokenizer::Tokenizer> tok = LoadOrFail("prepare", args.tokenizer);
  if (tok->eos_id() < 0) {
    Fail("prepare", 2,
         fmt::format("--tokenizer {}: the tokenizer has no EOS token to end documents with; name "
                     "one as \"eos_token\" in tokenizer_config.json",
                     args.tokenizer));
  }
  train::TokenizeFilesOptions options;
  options.text_key = args.text_key;
  options.jobs = args.jobs;
  int64_t files_total = static_cast<int64_t>(args.inputs.size());
  const bool tty = ::isatty(::fileno(stderr));
  options.on_progress = [tty](const train::TokenizeProgress& p) { PrintProgress(p, tty); };
  StatusOr<train::TokenData> data = train::TokenizeFiles(*tok, args.inputs, options);
  if (tty) std::fputc('\n', stderr);
  if (!data.ok()) Fail("prepare", 2, data.status().message());
  if (Status w = train::WriteTokenFile(args.output, *data); !w.ok()) {
    Fail("prepare", 2, w.message());
  }
  std::printf("wrote %s: %zu tokens, %zu documents from %lld files, %s, vocab %lld, eos %lld%s\n",
              args.output.c_str(), data->tokens.size(), data->doc_starts.size(),
              static_cast<long long>(files_total), tok->kind().c_str(),
              static_cast<long long>(tok->vocab_size()), static_cast<long long>(tok->eos_id()),
              tok->add_bos() ? fmt::format(", bos {}", tok->bos_id()).c_str() : "");
}

void Tokenize(const DataArgs& args) {
  std::unique_ptr<tokenizer::Tokenizer> tok = LoadOrFail("tokenize", args.tokenizer);
  std::fprintf(stderr, "%s: vocab %lld, bos %lld, eos %lld, add_bos %s\n", tok->kind().c_str(),
               static_cast<long long>(tok->vocab_size()), static_cast<long long>(tok->bos_id()),
               static_cast<long long>(tok->eos_id()), tok->add_bos() ? "true" : "false");
  std::string line;
  Status s = train::ForEachDocument(
      args.inputs, args.text_key,
      [&](const std::string& path, int64_t line_no, std::string_view text) -> Status {
        StatusOr<std::vector<int64_t>> ids = tok->Encode(text);
        if (!ids.ok()) {
          return ids.status().WithContext(line_no > 0 ? fmt::format("{}:{}", path, line_no) : path);
        }
        line = fmt::format("[{}]\n", fmt::join(*ids, ","));
        std::fwrite(line.data(), 1, line.size(), stdout);
        return Status::Ok();
      });
  std::fflush(stdout);
  if (!s.ok()) Fail("tokenize", 2, s.message());
}

}  // namespace

void AddDataCommand(CLI::App& app) {
  auto args = std::make_shared<DataArgs>();
  auto* data = app.add_subcommand("data", "Training data tools");
  data->require_subcommand(1);
  auto* prepare = data->add_subcommand("prepare", "Tokenize text files into a token file");
  prepare
      ->add_option("--tokenizer", args->tokenizer,
                   "byte (built in), or a directory with tokenizer.json or tokenizer.model")
      ->capture_default_str();
  prepare->add_option("inputs", args->inputs, "text files (one document each) or .jsonl files")
      ->required();
  prepare->add_option("-o,--output", args->output, "output token file (.tok or .npy)")->required();
  prepare->add_option("--text-key", args->text_key, "the member of a .jsonl line holding the text")
      ->capture_default_str();
  prepare->add_option("-j,--jobs", args->jobs, "tokenizer threads")
      ->check(PositiveCount())
      ->capture_default_str();
  prepare->callback([args] { Prepare(*args); });

  auto* tokenize = data->add_subcommand(
      "tokenize", "Print each document's token ids as a JSON array per line (no BOS/EOS)");
  tokenize
      ->add_option("--tokenizer", args->tokenizer,
                   "a directory with tokenizer.json or tokenizer.model")
      ->required();
  tokenize->add_option("inputs", args->inputs, "text files (one document each) or .jsonl files")
      ->required();
  tokenize->add_option("--text-key", args->text_key, "the member of a .jsonl line holding the text")
      ->capture_default_str();
  tokenize->callback([args] { Tokenize(*args); });
}

}  // namespace autosp::cli
