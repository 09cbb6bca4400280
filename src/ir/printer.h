// The text format, printing side. See parser.h for the grammar.
//
//   graph @llama_block(
//       %x: f32[B, S, 4096] {role=other},
//       %w_norm: f32[4096] {role=parameter, name="layers.0.input_layernorm.weight"}) {
//     symbol B
//     symbol S divisible_by 64
//     mesh sp = 4
//     %h = rms_norm(%x, %w_norm) {eps=1e-05} : f32[B, S, 4096] loc("llama.cc":88)
//     %y = all_to_all(%h) {axis="sp", concat_dim=1, split_dim=2} : f32[B, S, 1024] {sp: shard(2)}
//     return %y
//   }
//
// print(parse(text)) == text for every printed text.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "ir/graph.h"

namespace autosp::ir {

/// Unique, stable printed names for every value of a graph: a value's own
/// name() when it is free (sanitized to [A-Za-z0-9_.]), `name_1`, `name_2`
/// for repeats, and 0, 1, 2, ... for unnamed values, skipping taken names.
class ValueNamer {
 public:
  explicit ValueNamer(const Graph& graph);
  /// The printed name without '%'. REQUIRES: v belongs to the graph.
  std::string_view Name(const Value* v) const;

 private:
  std::unordered_map<const Value*, std::string> names_;
};

/// The whole graph, ending in "}\n".
std::string PrintGraph(const Graph& graph);
/// One node as its line in PrintGraph, without indentation or newline.
std::string PrintNode(const Node& node, const ValueNamer& namer);
/// `f32[B, S] {sp: shard(1)}`: the type and, when set, the layout.
std::string PrintValueType(const Value& value);

}  // namespace autosp::ir
