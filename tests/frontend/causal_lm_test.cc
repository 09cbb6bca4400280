// The model zoo: every example config traces to a verified graph whose inputs
// are exactly ModelParameters(config) then the data, with symbolic B and S,
// and which round-trips through the text format.
#include "frontend/models/causal_lm.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "frontend/functional.h"
#include "frontend/model_config.h"
#include "ir/op_registry.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "tests/ir/test_util.h"

namespace autosp::frontend {
namespace {

using ir::OpKind;

std::string ExampleConfig(const std::string& name) {
  return std::string(AUTOSP_SOURCE_DIR) + "/examples/configs/" + name;
}

ModelConfig Load(const std::string& name) {
  StatusOr<ModelConfig> c = LoadModelConfig(ExampleConfig(name));
  AUTOSP_CHECK(c.ok(), "{}", c.status().ToString());
  return *c;
}

std::map<OpKind, int> CountOps(const ir::Graph& g) {
  std::map<OpKind, int> counts;
  for (const ir::Node* n : g.nodes()) ++counts[n->kind()];
  return counts;
}

bool SdpaHasSlidingWindow() {
  for (const ir::AttrSpec& a : ir::GetOpDef(OpKind::kScaledDotProductAttention).schema.attrs) {
    if (a.name == "sliding_window") return true;
  }
  return false;
}

/// Options that make every example config traceable today.
CausalLmOptions OptionsFor(const ModelConfig& c) {
  CausalLmOptions o;
  if (c.sliding_window > 0 && !SdpaHasSlidingWindow()) o.ignore_sliding_window = true;
  return o;
}

class ExampleConfigs : public ::testing::TestWithParam<const char*> {};

TEST_P(ExampleConfigs, TracesVerifiedGraphWithTheContractInputs) {
  const ModelConfig c = Load(GetParam());
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c, OptionsFor(c)));
  const ir::Graph& g = *m.graph;
  ASSERT_OK(ir::VerifyGraph(g));

  // Parameters: exactly ModelParameters(config), in order.
  const std::vector<ParamSpec> specs = ModelParameters(c);
  ASSERT_EQ(m.num_parameters, specs.size());
  ASSERT_EQ(g.inputs().size(), specs.size() + 3);
  for (size_t i = 0; i < specs.size(); ++i) {
    const ir::Value* in = g.inputs()[i];
    EXPECT_EQ(in->role(), ir::InputRole::kParameter) << specs[i].name;
    EXPECT_EQ(in->external_name(), specs[i].name);
    std::vector<ir::DimExpr> dims(specs[i].shape.begin(), specs[i].shape.end());
    EXPECT_EQ(in->type(), ir::TensorType(ir::DType::kF32, dims)) << specs[i].name;
    EXPECT_TRUE(in->has_uses()) << specs[i].name;
  }
  // Data inputs, i64[B, S], with their roles.
  const std::vector<std::pair<size_t, ir::InputRole>> data = {
      {m.input_ids_index, ir::InputRole::kInputIds},
      {m.labels_index, ir::InputRole::kLabels},
      {m.position_ids_index, ir::InputRole::kPositionIds}};
  size_t expected_index = specs.size();
  for (const auto& [index, role] : data) {
    EXPECT_EQ(index, expected_index++);
    EXPECT_EQ(g.inputs()[index]->role(), role);
    EXPECT_EQ(g.inputs()[index]->type().ToString(), "i64[B, S]");
  }
  EXPECT_EQ(g.inputs()[m.input_ids_index]->name(), "input_ids");

  // One scalar f32 output: the loss, a mean cross entropy ignoring -100.
  ASSERT_EQ(g.outputs().size(), 1u);
  const ir::Value* loss = g.outputs()[0];
  EXPECT_EQ(loss->type().ToString(), "f32[]");
  EXPECT_EQ(loss->name(), "loss");
  ASSERT_NE(loss->producer(), nullptr);
  EXPECT_EQ(loss->producer()->kind(), OpKind::kCrossEntropy);
  EXPECT_EQ(loss->producer()->attrs().GetInt("ignore_index"), -100);
  EXPECT_EQ(loss->producer()->attrs().GetString("reduction"), "mean");
  EXPECT_EQ(loss->producer()->operand(1), g.inputs()[m.labels_index]);
  const ir::Value* logits = loss->producer()->operand(0);
  EXPECT_EQ(logits->name(), "logits");
  EXPECT_EQ(logits->type().ToString(), fmt::format("f32[B, S, {}]", c.vocab_size));

  // Symbols B and S, distinct.
  ASSERT_EQ(g.dims().symbols().size(), 2u);
  EXPECT_EQ(g.dims().symbols()[0].name, "B");
  EXPECT_EQ(g.dims().symbols()[1].name, "S");

  // Node counts per layer.
  std::map<OpKind, int> ops = CountOps(g);
  const int layers = static_cast<int>(c.num_hidden_layers);
  EXPECT_EQ(ops[OpKind::kScaledDotProductAttention], layers);
  EXPECT_EQ(ops[OpKind::kCrossEntropy], 1);
  if (c.family == ModelFamily::kLlama) {
    EXPECT_EQ(ops[OpKind::kLinear], 7 * layers + 1);
    EXPECT_EQ(ops[OpKind::kApplyRope], 2 * layers);
    EXPECT_EQ(ops[OpKind::kRmsNorm], 2 * layers + 1);
    EXPECT_EQ(ops[OpKind::kEmbedding], 1);
    EXPECT_EQ(ops[OpKind::kSilu], layers);
  } else {
    EXPECT_EQ(ops[OpKind::kLinear], 1);
    EXPECT_EQ(ops[OpKind::kMatMul], 4 * layers);
    EXPECT_EQ(ops[OpKind::kLayerNorm], 2 * layers + 1);
    EXPECT_EQ(ops[OpKind::kEmbedding], 2);
    EXPECT_EQ(ops[OpKind::kGelu], layers);
    EXPECT_EQ(ops[OpKind::kSplit], layers);
  }

  // Every node records a line of the model zoo.
  for (const ir::Node* n : g.nodes()) {
    EXPECT_TRUE(n->loc().known()) << n->ToString();
    EXPECT_TRUE(n->loc().file.starts_with("src/frontend/models/")) << n->loc().file;
  }

  // print(parse(print(g))) == print(g), and the parsed graph verifies.
  const std::string text = ir::PrintGraph(g);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ir::Graph> parsed, ir::ParseGraph(text, GetParam()));
  ASSERT_OK(ir::VerifyGraph(*parsed));
  EXPECT_EQ(ir::PrintGraph(*parsed), text);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ExampleConfigs,
                         ::testing::Values("tiny-llama.json", "tiny-gpt2.json",
                                           "mistral-tiny.json", "qwen2-tiny.json",
                                           "llama-3.1-8b.json"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = info.param;
                           n = n.substr(0, n.size() - 5);  // ".json"
                           for (char& ch : n) {
                             if (ch == '-' || ch == '.') ch = '_';
                           }
                           return n;
                         });

/// The attributes of the first node of `kind`.
const ir::Node* First(const ir::Graph& g, OpKind kind) {
  for (const ir::Node* n : g.nodes()) {
    if (n->kind() == kind) return n;
  }
  return nullptr;
}

TEST(CausalLm, LlamaDetails) {
  const ModelConfig c = Load("tiny-llama.json");
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
  const ir::Graph& g = *m.graph;
  EXPECT_EQ(g.name(), "llama");
  const ir::Node* sdpa = First(g, OpKind::kScaledDotProductAttention);
  ASSERT_NE(sdpa, nullptr);
  EXPECT_TRUE(sdpa->attrs().GetBool("causal"));
  EXPECT_FALSE(sdpa->attrs().Has("mask"));
  // GQA: 4 query heads, 2 KV heads passed directly.
  EXPECT_EQ(sdpa->operand(0)->type().ToString(), "f32[B, 4, S, 16]");
  EXPECT_EQ(sdpa->operand(1)->type().ToString(), "f32[B, 2, S, 16]");
  EXPECT_EQ(sdpa->operand(1)->producer()->kind(), OpKind::kApplyRope);
  EXPECT_EQ(sdpa->operand(2)->producer()->kind(), OpKind::kTranspose);
  const ir::Node* rope = First(g, OpKind::kApplyRope);
  EXPECT_EQ(rope->attrs().GetFloat("theta"), 10000.0);
  EXPECT_FALSE(rope->attrs().Has("rope_type"));
  EXPECT_EQ(rope->operand(1), g.inputs()[m.position_ids_index]);
  // Untied: lm_head is its own parameter and last.
  EXPECT_EQ(g.inputs()[m.num_parameters - 1]->external_name(), "lm_head.weight");
  // Inputs of the first layer are named readably.
  const std::string text = g.ToString();
  for (const char* needle : {"%q = transpose", "%k = transpose", "%attn = scaled_dot_product",
                             "%logits = linear", "%loss = cross_entropy", "%gate_proj = linear",
                             "%input_layernorm = rms_norm"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
}

TEST(CausalLm, TiedEmbeddingsReuseTheEmbeddingWeight) {
  for (const char* name : {"qwen2-tiny.json", "tiny-gpt2.json"}) {
    const ModelConfig c = Load(name);
    ASSERT_TRUE(c.tie_word_embeddings);
    ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
    const ir::Graph& g = *m.graph;
    const ir::Value* loss = g.outputs()[0];
    const ir::Node* head = loss->producer()->operand(0)->producer();
    ASSERT_EQ(head->kind(), OpKind::kLinear);
    EXPECT_EQ(head->operand(1), g.inputs()[0]) << name;  // the token embedding
    EXPECT_EQ(g.inputs()[0]->uses().size(), 2u) << name;
  }
}

TEST(CausalLm, Qwen2HasQkvBiasesOnly) {
  const ModelConfig c = Load("qwen2-tiny.json");
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
  int with_bias = 0;
  for (const ir::Node* n : m.graph->nodes()) {
    if (n->kind() == OpKind::kLinear && n->num_operands() == 3) ++with_bias;
  }
  EXPECT_EQ(with_bias, 3 * static_cast<int>(c.num_hidden_layers));
}

TEST(CausalLm, Llama31RopeScaling) {
  const ModelConfig c = Load("llama-3.1-8b.json");
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
  const ir::Node* rope = First(*m.graph, OpKind::kApplyRope);
  ASSERT_NE(rope, nullptr);
  EXPECT_EQ(rope->attrs().GetString("rope_type"), "llama3");
  EXPECT_EQ(rope->attrs().GetFloat("theta"), 500000.0);
  EXPECT_EQ(rope->attrs().GetFloat("factor"), 8.0);
  EXPECT_EQ(rope->attrs().GetFloat("low_freq_factor"), 1.0);
  EXPECT_EQ(rope->attrs().GetFloat("high_freq_factor"), 4.0);
  EXPECT_EQ(rope->attrs().GetInt("original_max_position_embeddings"), 8192);
  EXPECT_EQ(m.graph->inputs()[m.input_ids_index - 1]->type().ToString(), "f32[128256, 4096]");
}

TEST(CausalLm, LinearRopeScaling) {
  ModelConfig c = Load("tiny-llama.json");
  c.rope_scaling = RopeScaling{.rope_type = "linear", .factor = 2.0};
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
  const ir::Node* rope = First(*m.graph, OpKind::kApplyRope);
  EXPECT_EQ(rope->attrs().GetString("rope_type"), "linear");
  EXPECT_EQ(rope->attrs().GetFloat("factor"), 2.0);
  EXPECT_FALSE(rope->attrs().Has("low_freq_factor"));
}

TEST(CausalLm, Gpt2UsesConv1DLayout) {
  const ModelConfig c = Load("tiny-gpt2.json");
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
  const ir::Node* mm = First(*m.graph, OpKind::kMatMul);
  ASSERT_NE(mm, nullptr);
  // x @ c_attn.weight [H, 3H], untransposed, then + bias.
  EXPECT_EQ(mm->operand(1)->external_name(), "transformer.h.0.attn.c_attn.weight");
  EXPECT_EQ(mm->result()->type().ToString(), "f32[B, S, 192]");
  const ir::Node* gelu = First(*m.graph, OpKind::kGelu);
  EXPECT_EQ(gelu->attrs().GetString("approximate"), "tanh");
  const ir::Node* emb = First(*m.graph, OpKind::kEmbedding);
  EXPECT_EQ(emb->operand(1)->external_name(), "transformer.wte.weight");
}

TEST(CausalLm, SlidingWindowIsNeverSilentlyDropped) {
  const ModelConfig c = Load("mistral-tiny.json");
  ASSERT_EQ(c.sliding_window, 8);
  StatusOr<TracedModel> m = BuildCausalLm(c);
  if (SdpaHasSlidingWindow()) {
    ASSERT_OK(m.status());
    const ir::Node* sdpa = First(*m->graph, OpKind::kScaledDotProductAttention);
    EXPECT_EQ(sdpa->attrs().GetInt("sliding_window"), 8);
  } else {
    EXPECT_EQ(m.status().code(), StatusCode::kUnimplemented);
    EXPECT_ERROR_CONTAINS(m.status(), "sliding-window attention (window 8)");
    EXPECT_ERROR_CONTAINS(m.status(), "src/frontend/models/llama.cc:");
  }
}

TEST(CausalLm, OptionsAndDtypes) {
  const ModelConfig c = Load("tiny-llama.json");
  ASSERT_OK_AND_ASSIGN(
      TracedModel m,
      BuildCausalLm(c, {.dtype = ir::DType::kBF16, .graph_name = "tiny"}));
  EXPECT_EQ(m.graph->name(), "tiny");
  EXPECT_EQ(m.graph->inputs()[0]->type().dtype, ir::DType::kBF16);
  const ir::Node* ce = m.graph->outputs()[0]->producer();
  EXPECT_EQ(ce->operand(0)->producer()->kind(), OpKind::kCast);  // logits upcast to f32
  EXPECT_EQ(m.graph->outputs()[0]->type().ToString(), "f32[]");

  EXPECT_ERROR_CONTAINS(BuildCausalLm(c, {.dtype = ir::DType::kI64}), "floating point");
}

TEST(CausalLm, BadConfigIsAModelCodeErrorWithALine) {
  // A hand-edited config whose head_dim does not match the projections.
  ModelConfig c = Load("tiny-llama.json");
  c.head_dim = 8;
  c.num_key_value_heads = 3;  // 4 query heads are not a multiple of 3 KV heads
  StatusOr<TracedModel> m = BuildCausalLm(c);
  EXPECT_FALSE(m.ok());
  EXPECT_ERROR_CONTAINS(m.status(), "src/frontend/models/llama.cc:");
  EXPECT_ERROR_CONTAINS(m.status(), "bad GQA ratio");
}

// Golden: the traced tiny Llama. The lines that matter (signature, symbols,
// norms, RoPE, attention, logits, loss, return) must appear in the traced
// printout in the golden file's order; source locations are ignored (they move
// when llama.cc is edited). Regenerate with AUTOSP_UPDATE_GOLDEN=1.
std::vector<std::string> SelectedLines(const std::string& text) {
  static const char* const kKeep[] = {"graph @", "symbol ", "role=", "rms_norm(", "apply_rope(",
                                      "scaled_dot_product_attention(", "%logits", "%loss",
                                      "return "};
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (size_t p = line.find(" loc(\""); p != std::string::npos) line.resize(p);
    for (const char* k : kKeep) {
      if (line.find(k) != std::string::npos) {
        out.push_back(line);
        break;
      }
    }
  }
  return out;
}

TEST(CausalLm, TinyLlamaGolden) {
  const ModelConfig c = Load("tiny-llama.json");
  ASSERT_OK_AND_ASSIGN(TracedModel m, BuildCausalLm(c));
  const std::string path = std::string(AUTOSP_SOURCE_DIR) + "/tests/frontend/golden/tiny_llama.ir";
  const std::string text = ir::PrintGraph(*m.graph);
  if (std::getenv("AUTOSP_UPDATE_GOLDEN") != nullptr) std::ofstream(path) << text;
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot read " << path;
  std::stringstream golden;
  golden << in.rdbuf();
  // The golden file parses and verifies on its own.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ir::Graph> parsed, ir::ParseGraph(golden.str(), path));
  ASSERT_OK(ir::VerifyGraph(*parsed));
  const std::vector<std::string> want = SelectedLines(golden.str());
  const std::vector<std::string> got = SelectedLines(text);
  EXPECT_GT(want.size(), 20u);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "selected line " << i;
}

}  // namespace
}  // namespace autosp::frontend
