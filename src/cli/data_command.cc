// `autosp data prepare --tokenizer byte IN... -o OUT`: text files to a token
// file (.tok with document boundaries, or .npy); each input file is one
// document.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "train/data.h"
#include "support/file.h"

namespace autosp::cli {
namespace {

struct PrepareArgs {
  std::string tokenizer = "byte";
  std::vector<std::string> inputs;
  std::string output;
};

[[noreturn]] void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "autosp data prepare: %s\n", message.c_str());
  throw CLI::RuntimeError(code);
}

void Prepare(const PrepareArgs& args) {
  if (args.tokenizer != "byte") {
    Fail(2, fmt::format("--tokenizer {}: unknown tokenizer; allowed: byte", args.tokenizer));
  }
  train::TokenData data;
  for (const std::string& path : args.inputs) {
    StatusOr<std::string> text = ReadRegularFile(path, "input text file");
    if (!text.ok()) Fail(2, text.status().message());
    data.AddDocument(train::ByteTokenize(*text));
  }
  if (Status s = train::WriteTokenFile(args.output, data); !s.ok()) Fail(2, s.message());
  std::printf("wrote %s: %zu tokens, %zu documents, byte tokenizer (vocab 256)\n",
              args.output.c_str(), data.tokens.size(), data.doc_starts.size());
}

}  // namespace

void AddDataCommand(CLI::App& app) {
  auto args = std::make_shared<PrepareArgs>();
  auto* data = app.add_subcommand("data", "Training data tools");
  data->require_subcommand(1);
  auto* prepare = data->add_subcommand("prepare", "Tokenize text files into a token file");
  prepare->add_option("--tokenizer", args->tokenizer, "tokenizer: byte (built in)")
      ->capture_default_str();
  prepare->add_option("inputs", args->inputs, "text files, one document each")->required();
  prepare->add_option("-o,--output", args->output, "output token file (.tok or .npy)")->required();
  prepare->callback([args] { Prepare(*args); });
}

}  // namespace autosp::cli
