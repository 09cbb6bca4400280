// A user's own transformer, trained with sequence parallelism through the
// Engine — the seed's workflow in C++:
//
//   engine = Initialize(config, model)     # deepspeed.initialize
//   engine.Compile()                       # model.compile(): AutoSP passes
//   for batch in loader:
//     inputs = engine.PrepareAutoSpInputs(batch)   # prepare_auto_sp_inputs
//     loss = engine.Step(inputs)           # forward + backward
//     engine.OptimizerStep()
//
// The model below is not from autosp's zoo: its attention block (one fused
// QKV projection, RoPE, causal attention), its MLP (GELU) and its LayerNorms
// are written here with the public frontend API, single-device style. The
// config turns AutoSP on; nothing in the model code knows about ranks.
//
//   build/bin/autosp launch -n 2 -- build/bin/custom_model_example [steps]
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "frontend/functional.h"
#include "frontend/tracer.h"
#include "runtime/comm/c10d_communicator.h"
#include "runtime/dist_env.h"
#include "train/data.h"
#include "train/ds_config.h"
#include "train/engine.h"

namespace {

using autosp::Tensor;
using autosp::Tracer;
using autosp::ir::DimExpr;
using autosp::ir::DType;

constexpr int64_t kVocab = 256, kHidden = 64, kHeads = 4, kHeadDim = 16, kLayers = 2, kFfn = 192;

/// One pre-norm block: parameters are declared in the constructor (like an
/// nn.Module's __init__), the computation in Forward.
struct Block {
  Tensor ln1_w, ln1_b, qkv_w, out_w, ln2_w, ln2_b, fc_w, fc_b, proj_w, proj_b;

  Block(Tracer& t, int64_t i) {
    auto scope = t.Scope(fmt::format("blocks.{}", i));
    ln1_w = t.Parameter("ln1.weight", {kHidden});
    ln1_b = t.Parameter("ln1.bias", {kHidden});
    qkv_w = t.Parameter("attn.qkv.weight", {3 * kHidden, kHidden});
    out_w = t.Parameter("attn.out.weight", {kHidden, kHidden});
    ln2_w = t.Parameter("ln2.weight", {kHidden});
    ln2_b = t.Parameter("ln2.bias", {kHidden});
    fc_w = t.Parameter("mlp.fc.weight", {kFfn, kHidden});
    fc_b = t.Parameter("mlp.fc.bias", {kFfn});
    proj_w = t.Parameter("mlp.proj.weight", {kHidden, kFfn});
    proj_b = t.Parameter("mlp.proj.bias", {kHidden});
  }

  Tensor Attention(const Tensor& x, const Tensor& positions) const {
    const DimExpr b = x.dim(0), s = x.dim(1);
    std::vector<Tensor> qkv = autosp::Split(autosp::Linear(x, qkv_w), {kHidden, kHidden, kHidden}, 2);
    auto heads = [&](const Tensor& y) {
      return autosp::Transpose(autosp::Reshape(y, {b, s, kHeads, kHeadDim}), 1, 2);
    };
    Tensor q = autosp::ApplyRope(heads(qkv[0]), positions);
    Tensor k = autosp::ApplyRope(heads(qkv[1]), positions);
    Tensor a = autosp::ScaledDotProductAttention(q, k, heads(qkv[2]), {.causal = true});
    return autosp::Linear(autosp::Reshape(autosp::Transpose(a, 1, 2), {b, s, kHidden}), out_w);
  }

  Tensor Mlp(const Tensor& x) const {
    return autosp::Linear(autosp::Gelu(autosp::Linear(x, fc_w, fc_b)), proj_w, proj_b);
  }

  Tensor Forward(const Tensor& x, const Tensor& positions) const {
    Tensor h = x + Attention(autosp::LayerNorm(x, ln1_w, ln1_b, 1e-5), positions);
    return h + Mlp(autosp::LayerNorm(h, ln2_w, ln2_b, 1e-5));
  }
};

/// The model function the Engine traces: parameters first, then the three
/// tagged inputs, then the loss.
autosp::StatusOr<autosp::frontend::TracedModel> TinyGpt(const autosp::frontend::CausalLmOptions&) {
  Tracer t("tiny_gpt");
  const DimExpr b = t.Symbol("B"), s = t.Symbol("S");
  Tensor embed = t.Parameter("embed.weight", {kVocab, kHidden});
  std::vector<Block> blocks;
  for (int64_t i = 0; i < kLayers; ++i) blocks.emplace_back(t, i);
  Tensor lnf_w = t.Parameter("ln_f.weight", {kHidden});
  Tensor lnf_b = t.Parameter("ln_f.bias", {kHidden});
  const size_t num_parameters = t.graph().inputs().size();

  using autosp::ir::InputRole;
  Tensor ids = t.Input("input_ids", DType::kI64, {b, s}, InputRole::kInputIds);
  Tensor labels = t.Input("labels", DType::kI64, {b, s}, InputRole::kLabels);
  Tensor positions = t.Input("position_ids", DType::kI64, {b, s}, InputRole::kPositionIds);

  Tensor x = autosp::Embedding(ids, embed);
  for (const Block& block : blocks) x = block.Forward(x, positions);
  Tensor logits = autosp::Linear(autosp::LayerNorm(x, lnf_w, lnf_b, 1e-5), embed);  // tied head
  t.Output(autosp::CrossEntropy(logits, labels).Named("loss"));
  AUTOSP_ASSIGN_OR_RETURN(auto graph, t.Finish());

  autosp::frontend::TracedModel model;
  model.graph = std::move(graph);
  model.num_parameters = num_parameters;
  model.input_ids_index = num_parameters;
  model.labels_index = num_parameters + 1;
  model.position_ids_index = num_parameters + 2;
  return model;
}

constexpr const char* kConfig = R"({
  "train_micro_batch_size_per_gpu": 4,
  "steps_per_print": 5,
  "optimizer": {"type": "AdamW", "params": {"lr": 3e-3, "weight_decay": 0.0}},
  "gradient_clipping": 1.0,
  "zero_optimization": {"stage": 1},
  "compile": {"deepcompile": true, "passes": ["autosp"]},
  "sequence_parallel_size": 2
})";

int Fail(const autosp::Status& s) {
  std::fprintf(stderr, "custom_model_example: %s\n", s.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t steps = argc > 1 ? std::atoll(argv[1]) : 40;
  auto env = autosp::runtime::ReadDistEnv();
  if (!env.ok()) return Fail(env.status());
  std::unique_ptr<autosp::runtime::CommWorld> world;
  if (env->world_size > 1) {
    auto connected = autosp::runtime::ConnectC10dWorld(*env, autosp::runtime::C10dBackend::kGloo);
    if (!connected.ok()) return Fail(connected.status());
    world = std::move(connected).value();
  }
  auto config = autosp::train::ParseDsConfig(kConfig, "custom_model config");
  if (!config.ok()) return Fail(config.status());
  // With one process there is no one to share the sequence with.
  if (env->world_size == 1) config->sequence_parallel_size = 1;

  // deepspeed.initialize(config=config, model=model); model.compile()
  auto engine = autosp::train::Engine::Initialize(
      *config, autosp::train::Model::FromFunction("tiny_gpt", TinyGpt), world.get());
  if (!engine.ok()) return Fail(engine.status());
  if (auto s = (*engine)->Compile(); !s.ok()) return Fail(s);

  // TinyGpt takes no segment ids: documents packed with attention across them.
  auto data = autosp::train::PackedDataset::Create(autosp::train::EmbeddedCorpusTokens(), 128,
                                                   autosp::train::PackingMode::kConcat);
  if (!data.ok()) return Fail(data.status());
  const autosp::train::BatchPlan& plan = (*engine)->batch_plan();
  const bool printer = env->rank == 0;
  double first = 0, last = 0;
  for (int64_t step = 0; step < steps; ++step) {
    autosp::train::SampleBatch batch =
        data->Batch((step * plan.dp + (*engine)->dp_index()) * plan.micro_batch, plan.micro_batch);
    auto inputs =
        (*engine)->PrepareAutoSpInputs(batch.input_ids, batch.labels);  // this rank's shard
    if (!inputs.ok()) return Fail(inputs.status());
    auto loss = (*engine)->Step(*inputs);                       // forward + backward
    if (!loss.ok()) return Fail(loss.status());
    auto result = (*engine)->OptimizerStep();                   // ZeRO-1 Adam step
    if (!result.ok()) return Fail(result.status());
    if (step == 0) first = result->loss;
    last = result->loss;
    if (printer && (step % 5 == 0 || step + 1 == steps)) {
      std::printf("step %lld loss %.4f (sp rank %d of %lld)\n", static_cast<long long>(step + 1),
                  result->loss, (*engine)->sp_index(),
                  static_cast<long long>(config->sequence_parallel_size));
      std::fflush(stdout);
    }
  }
  if (printer) std::printf("loss %.4f -> %.4f: %s\n", first, last, last < first - 0.5 ? "falling" : "NOT falling");
  return last < first - 0.5 ? 0 : 1;
}
