// compiled_dump: runs the *compiled* training step (train::CompileCausalLm:
// the lowering pipeline, mixed-precision pass included, and the executor's
// kernels) once and writes its loss and every parameter gradient to a
// safetensors file. Driven by hf_precision_crosscheck.py, which compares the
// result with HF transformers run in the same dtype.
//
//   compiled_dump --config config.json --weights model.safetensors
//                 --batch batch.safetensors --out out.safetensors
//                 [--dtype bf16|f16|f32]
//
// The weights are rounded to the compute dtype before the step (the same
// rounding HF's model.to(dtype) does); the batch file holds input_ids,
// labels (pre-shifted, -100 ignored) and position_ids, and optionally
// segment_ids (isolated packing: the model is then compiled with a
// segment_ids input, attention within documents). The output holds
// "loss" and "grad.<parameter name>" (both as f32).
//
// --sp N: the step sequence-parallel over N ranks (the whole batch padded to
// a multiple of N by prepare_auto_sp_inputs, each rank its shard, the
// gradients all-reduced over SP); rank 0 writes the output. Under a launcher
// (`autosp launch -n N -- compiled_dump ... --sp N`: WORLD_SIZE set) the ranks
// are processes over Gloo; otherwise N threads of this process.
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "frontend/model_config.h"
#include "passes/mixed_precision.h"
#include "runtime/comm/c10d_communicator.h"
#include "runtime/comm/in_process_communicator.h"
#include "runtime/comm/mesh.h"
#include "runtime/dist_env.h"
#include "runtime/executor.h"
#include "runtime/safetensors.h"
#include "train/compile.h"
#include "train/sp_inputs.h"

namespace {

using autosp::Status;

using autosp::runtime::ToScalarType;

Status Run(const std::map<std::string, std::string>& args) {
  for (const char* key : {"--config", "--weights", "--batch", "--out"}) {
    if (!args.count(key)) return autosp::InvalidArgument("missing {} argument", key);
  }
  const std::string dtype_text = args.count("--dtype") ? args.at("--dtype") : "bf16";
  AUTOSP_ASSIGN_OR_RETURN(autosp::ir::DType dtype, autosp::passes::ParseComputeDType(dtype_text));
  AUTOSP_ASSIGN_OR_RETURN(autosp::frontend::ModelConfig config,
                          autosp::frontend::LoadModelConfig(args.at("--config")));
  std::printf("%s, compute dtype %s\n", autosp::frontend::ModelConfigSummary(config).c_str(),
              dtype_text.c_str());
  std::vector<autosp::frontend::ParamSpec> specs = autosp::frontend::ModelParameters(config);
  std::vector<autosp::runtime::ExpectedTensor> expected;
  for (const autosp::frontend::ParamSpec& p : specs) expected.push_back({p.name, p.shape});
  std::map<std::string, at::Tensor> loaded;
  AUTOSP_RETURN_IF_ERROR(
      autosp::runtime::LoadParametersInto(args.at("--weights"), expected, &loaded));
  std::vector<at::Tensor> params;
  for (const autosp::frontend::ParamSpec& p : specs) {
    params.push_back(loaded.at(p.name).to(ToScalarType(dtype)).contiguous());
  }
  AUTOSP_ASSIGN_OR_RETURN(auto batch, autosp::runtime::LoadSafetensors(args.at("--batch")));
  for (const char* key : {"input_ids", "labels", "position_ids"}) {
    if (!batch.count(key)) return autosp::NotFound("{}: missing tensor '{}'", args.at("--batch"), key);
  }

  const int sp = args.count("--sp") ? std::stoi(args.at("--sp")) : 1;
  if (sp < 1) return autosp::InvalidArgument("--sp must be >= 1");
  std::optional<at::Tensor> segments;
  if (batch.count("segment_ids")) segments = batch.at("segment_ids");

  // One rank's step: its shard of the padded batch, the whole segment ids.
  auto run_rank =
      [&](autosp::runtime::CommWorld& world,
          autosp::train::CompiledStep* step) -> autosp::StatusOr<std::vector<at::Tensor>> {
    AUTOSP_ASSIGN_OR_RETURN(autosp::runtime::CommMesh mesh,
                            autosp::runtime::TryBuildCommMesh(world, {1, sp}));
    autosp::train::CompileOptions options;
    options.compute_dtype = dtype;
    options.sp = sp;
    options.sp_comm = sp > 1 ? mesh.sp.get() : nullptr;
    options.segment_ids_input = segments.has_value();
    AUTOSP_ASSIGN_OR_RETURN(*step, autosp::train::CompileCausalLm(config, options));
    autosp::train::PrepareOptions prepare;
    prepare.sp_size = sp;
    AUTOSP_ASSIGN_OR_RETURN(autosp::train::AutoSpInputs full,
                            autosp::train::PrepareAutoSpInputs(
                                batch.at("input_ids"), batch.at("labels"), batch.at("position_ids"),
                                std::nullopt, prepare, segments));
    const autosp::train::AutoSpInputs mine =
        autosp::train::ShardForRank(full, world.rank() % sp, sp);
    return step->Run(params, mine.input_ids, mine.labels, mine.position_ids, at::Tensor(), {}, 1.0,
                     mine.segment_ids.value_or(at::Tensor()));
  };
  autosp::train::CompiledStep step;
  std::vector<at::Tensor> outputs;
  AUTOSP_ASSIGN_OR_RETURN(autosp::runtime::DistEnv env, autosp::runtime::ReadDistEnv());
  if (env.world_size > 1) {
    if (env.world_size != sp) {
      return autosp::InvalidArgument("--sp {} under a launcher of {} ranks", sp, env.world_size);
    }
    AUTOSP_ASSIGN_OR_RETURN(
        std::unique_ptr<autosp::runtime::CommWorld> world,
        autosp::runtime::ConnectC10dWorld(env, autosp::runtime::C10dBackend::kGloo));
    AUTOSP_ASSIGN_OR_RETURN(outputs, run_rank(*world, &step));
    if (env.rank != 0) return autosp::Status::Ok();
  } else {
    autosp::runtime::InProcessHub hub(sp);
    std::vector<autosp::Status> status(static_cast<size_t>(sp), autosp::Status::Ok());
    std::vector<autosp::train::CompiledStep> steps(static_cast<size_t>(sp));
    std::vector<std::thread> threads;
    for (int r = 0; r < sp; ++r) {
      threads.emplace_back([&, r] {
        std::unique_ptr<autosp::runtime::CommWorld> world = hub.Join(r);
        autosp::StatusOr<std::vector<at::Tensor>> out =
            run_rank(*world, &steps[static_cast<size_t>(r)]);
        if (!out.ok()) {
          status[static_cast<size_t>(r)] = out.status();
          hub.Abort(fmt::format("rank {} failed", r));
        } else if (r == 0) {
          outputs = std::move(out).value();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const autosp::Status& st : status) AUTOSP_RETURN_IF_ERROR(st);
    step = std::move(steps[0]);
  }
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("loss", outputs[0].to(at::kFloat));
  std::printf("loss %.8f (%s)\n", outputs[0].item<double>(),
              std::string(c10::toString(outputs[0].scalar_type())).c_str());
  for (size_t i = 0; i < step.grads.params.size(); ++i) {
    const at::Tensor& g = outputs[step.grads.grad_output_index[i]];
    if (g.scalar_type() != ToScalarType(dtype)) {
      return autosp::InternalError("gradient of {} is {}, expected the compute dtype {}",
                              step.grads.params[i]->external_name(),
                              c10::toString(g.scalar_type()), dtype_text);
    }
    out.emplace_back("grad." + step.grads.params[i]->external_name(), g.to(at::kFloat));
  }
  return autosp::runtime::SaveSafetensors(args.at("--out"), out);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: compiled_dump --config C --weights W --batch B --out O [--dtype bf16] "
                 "[--sp N]\n");
    return 2;
  }
  Status s = Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "compiled_dump: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
