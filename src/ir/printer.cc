#include "ir/printer.h"

#include <unordered_set>

#include <fmt/format.h>

namespace autosp::ir {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

std::string Sanitize(std::string_view name) {
  std::string s(name);
  for (char& c : s) {
    if (!IsNameChar(c)) c = '_';
  }
  return s;
}

void AppendType(fmt::memory_buffer& out, const Value& v) {
  const TensorType& t = v.type();
  fmt::format_to(std::back_inserter(out), "{}[", DTypeName(t.dtype));
  for (size_t i = 0; i < t.dims.size(); ++i) {
    if (i > 0) out.append(std::string_view(", "));
    if (t.dims[i].is_constant()) {
      fmt::format_to(std::back_inserter(out), "{}", t.dims[i].constant_value());
    } else if (auto s = t.dims[i].AsSymbol()) {
      out.append(*s);
    } else {
      out.append(t.dims[i].ToString());
    }
  }
  out.push_back(']');
  if (!v.layout().empty()) {
    out.push_back(' ');
    out.append(v.layout().ToString());
  }
}

void AppendNode(fmt::memory_buffer& out, const Node& node, const ValueNamer& namer) {
  auto app = [&out](std::string_view s) { out.append(s); };
  for (size_t i = 0; i < node.num_results(); ++i) {
    if (i > 0) app(", ");
    out.push_back('%');
    app(namer.Name(node.result(i)));
  }
  app(" = ");
  app(node.op_name());
  out.push_back('(');
  for (size_t i = 0; i < node.num_operands(); ++i) {
    if (i > 0) app(", ");
    out.push_back('%');
    app(namer.Name(node.operand(i)));
  }
  out.push_back(')');
  if (!node.attrs().empty()) {
    out.push_back(' ');
    app(node.attrs().ToString());
  }
  app(" : ");
  for (size_t i = 0; i < node.num_results(); ++i) {
    if (i > 0) app(", ");
    AppendType(out, *node.result(i));
  }
  if (node.loc().known()) {
    app(" loc(");
    app(QuoteString(node.loc().file));
    fmt::format_to(std::back_inserter(out), ":{})", node.loc().line);
  }
}

}  // namespace

ValueNamer::ValueNamer(const Graph& graph) {
  std::vector<const Value*> order;
  order.reserve(graph.inputs().size() + graph.num_nodes() * 2);
  for (const Value* v : graph.inputs()) order.push_back(v);
  for (const Node* n : graph.nodes()) {
    for (size_t i = 0; i < n->num_results(); ++i) order.push_back(n->result(i));
  }
  names_.reserve(order.size());
  std::unordered_set<std::string> taken;
  taken.reserve(order.size());
  std::vector<const Value*> pending;
  // Pass 1: first holders of each name keep it.
  for (const Value* v : order) {
    if (!v->name().empty()) {
      std::string s = Sanitize(v->name());
      if (taken.insert(s).second) {
        names_.emplace(v, std::move(s));
        continue;
      }
    }
    pending.push_back(v);
  }
  // Pass 2: repeats get a suffix, unnamed values a number.
  int64_t counter = 0;
  std::unordered_map<std::string, int64_t> next_suffix;  // keeps repeats linear
  for (const Value* v : pending) {
    std::string s;
    if (!v->name().empty()) {
      std::string base = Sanitize(v->name());
      int64_t& k = next_suffix[base];
      do {
        s = fmt::format("{}_{}", base, ++k);
      } while (taken.count(s));
    } else {
      do {
        s = fmt::format("{}", counter++);
      } while (taken.count(s));
    }
    taken.insert(s);
    names_.emplace(v, std::move(s));
  }
}

std::string_view ValueNamer::Name(const Value* v) const {
  auto it = names_.find(v);
  AUTOSP_CHECK(it != names_.end(), "value not in the named graph");
  return it->second;
}

std::string PrintValueType(const Value& value) {
  fmt::memory_buffer out;
  AppendType(out, value);
  return fmt::to_string(out);
}

std::string PrintNode(const Node& node, const ValueNamer& namer) {
  fmt::memory_buffer out;
  AppendNode(out, node, namer);
  return fmt::to_string(out);
}

std::string PrintGraph(const Graph& graph) {
  ValueNamer namer(graph);
  fmt::memory_buffer out;
  auto app = [&out](std::string_view s) { out.append(s); };
  app("graph @");
  app(graph.name());
  out.push_back('(');
  const auto& inputs = graph.inputs();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = inputs[i];
    app(i == 0 ? "\n    %" : ",\n    %");
    app(namer.Name(v));
    app(": ");
    AppendType(out, *v);
    app(" {role=");
    app(InputRoleName(v->role()));
    if (!v->external_name().empty()) {
      app(", name=");
      app(QuoteString(v->external_name()));
    }
    out.push_back('}');
  }
  app(") {\n");
  for (const DimContext::SymbolInfo& s : graph.dims().symbols()) {
    if (s.divisor > 1) {
      fmt::format_to(std::back_inserter(out), "  symbol {} divisible_by {}\n", s.name, s.divisor);
    } else {
      fmt::format_to(std::back_inserter(out), "  symbol {}\n", s.name);
    }
  }
  for (const DimContext::MeshAxis& a : graph.dims().mesh_axes()) {
    fmt::format_to(std::back_inserter(out), "  mesh {} = {}\n", a.name, a.size);
  }
  for (const Node* n : graph.nodes()) {
    app("  ");
    AppendNode(out, *n, namer);
    out.push_back('\n');
  }
  app("  return");
  const auto& outputs = graph.outputs();
  for (size_t i = 0; i < outputs.size(); ++i) {
    app(i == 0 ? " %" : ", %");
    app(namer.Name(outputs[i]));
  }
  if (graph.num_forward_outputs()) {
    fmt::format_to(std::back_inserter(out), " {{forward_outputs={}}}",
                   *graph.num_forward_outputs());
  }
  app("\n}\n");
  return fmt::to_string(out);
}

}  // namespace autosp::ir
