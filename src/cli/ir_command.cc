// `autosp ir ...`: work with IR text files.
//   autosp ir roundtrip FILE                 parse, verify, print
//   autosp ir passes FILE --passes dce,cse   parse, verify, run passes, print
//   (e.g. --passes sp-partition,autodiff,sp-sync-gradients,checkpoint{policy=sac}:
//   the training pipeline of passes/pipeline.h, pass by pass)
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/pass_registry.h"
#include "support/status.h"
#include "support/file.h"

namespace autosp::cli {
namespace {

StatusOr<std::string> ReadFile(const std::string& path) {
  return ReadRegularFile(path, "IR file", uint64_t{1} << 30);
}

StatusOr<std::unique_ptr<ir::Graph>> LoadGraph(const std::string& path, bool verify) {
  AUTOSP_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<ir::Graph> graph, ir::ParseGraph(text, path));
  if (verify) AUTOSP_RETURN_IF_ERROR(ir::VerifyGraph(*graph).WithContext(path));
  return graph;
}

[[noreturn]] void Fail(const Status& status) {
  std::fprintf(stderr, "autosp ir: %s\n", status.ToString().c_str());
  throw CLI::RuntimeError(1);
}

void Emit(const ir::Graph& graph) {
  std::string text = ir::PrintGraph(graph);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

struct PassesArgs {
  std::string file;
  std::string passes = "dce,cse";
  std::string dump_before;
  std::string dump_after;
  std::string dump_dir;
  bool no_verify = false;
};

}  // namespace

void AddIrCommand(CLI::App& app) {
  auto* ir = app.add_subcommand("ir", "Work with autosp IR text files");
  ir->require_subcommand(1);

  auto roundtrip_file = std::make_shared<std::string>();
  auto* rt = ir->add_subcommand("roundtrip", "Parse, verify and print an IR file");
  rt->add_option("FILE", *roundtrip_file, "IR text file")->required();
  rt->callback([roundtrip_file] {
    StatusOr<std::unique_ptr<ir::Graph>> graph = LoadGraph(*roundtrip_file, /*verify=*/true);
    if (!graph.ok()) Fail(graph.status());
    Emit(**graph);
  });

  auto args = std::make_shared<PassesArgs>();
  std::string pass_list;
  for (const passes::PassInfo& p : passes::AllPasses()) {
    pass_list += fmt::format("\n  {:<22} {}", p.name, p.description);
  }
  auto* ps = ir->add_subcommand("passes", "Run passes on an IR file and print the result");
  ps->footer("Passes:" + pass_list);
  ps->add_option("FILE", args->file, "IR text file")->required();
  ps->add_option("--passes", args->passes,
                 "Comma-separated pass names, in order; options in braces: "
                 "autodiff,checkpoint{policy=full}")
      ->capture_default_str();
  ps->add_option("--dump-before", args->dump_before,
                 "Print the graph before these passes: a name, a comma list, or 'all'");
  ps->add_option("--dump-after", args->dump_after,
                 "Print the graph after these passes: a name, a comma list, or 'all'");
  ps->add_option("--dump-dir", args->dump_dir,
                 "Write dumps as NN-<pass>-before|after.ir here (default: stderr)");
  ps->add_flag("--no-verify", args->no_verify, "Skip verification between passes");
  ps->callback([args] {
    // Passes require a verified graph (passes/pass.h); --no-verify only skips
    // the checks between passes.
    StatusOr<std::unique_ptr<ir::Graph>> graph = LoadGraph(args->file, /*verify=*/true);
    if (!graph.ok()) Fail(graph.status());
    passes::PassManagerOptions options;
    options.verify_each = !args->no_verify;
    options.dump_before = args->dump_before;
    options.dump_after = args->dump_after;
    options.dump_dir = args->dump_dir;
    passes::PassManager pm(options);
    Status s = passes::AddPipeline(pm, args->passes);
    if (!s.ok()) Fail(s);
    StatusOr<bool> changed = pm.Run(**graph);
    if (!changed.ok()) Fail(changed.status());
    Emit(**graph);
  });
}

}  // namespace autosp::cli
