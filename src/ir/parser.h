// The text format, parsing side (printer.h shows an example).
//
// Grammar (whitespace and `// comments` are ignored):
//   graph    := 'graph' '@' NAME '(' [arg (',' arg)*] ')' '{' stmt* 'return' [ref (',' ref)*] '}'
//   arg      := ref ':' type [attr-dict]          // attrs: role=..., name="..."
//   stmt     := 'symbol' IDENT ['divisible_by' INT]
//             | 'mesh' IDENT '=' INT
//             | ref (',' ref)* '=' OP '(' [ref (',' ref)*] ')' [attr-dict] ':' type (',' type)* [loc]
//   ref      := '%' NAME                           // NAME: [A-Za-z0-9_.]+
//   type     := DTYPE '[' [dim (',' dim)*] ']' [layout]
//   layout   := '{' AXIS ':' ('replicate' | 'shard' '(' INT ')' | 'partial' '(' ('sum'|'max') ')') ... '}'
//   dim      := sum of products of INT, IDENT, '(' dim ')', dim '/' INT (exact),
//               'floordiv' '(' dim ',' INT ')', unary '-'
//   attr-dict:= '{' IDENT '=' value (',' IDENT '=' value)* '}'
//   value    := INT | FLOAT | 'true' | 'false' | STRING | DTYPE | dim | '[' [value (',' value)*] ']'
//   loc      := 'loc' '(' STRING ':' INT ')'
#pragma once

#include <memory>
#include <string_view>

#include "ir/graph.h"
#include "support/status.h"

namespace autosp::ir {

/// Parses one graph. Errors are ParseError "<source>:<line>:<col>: expected ..., got ...".
/// The graph is not verified; call VerifyGraph.
StatusOr<std::unique_ptr<Graph>> ParseGraph(std::string_view text,
                                            std::string_view source_name = "<input>");
/// Parses a dim expression ("B*S + 4", "S/4").
StatusOr<DimExpr> ParseDimExpr(std::string_view text);
/// Parses a tensor type ("f32[B, S, 4096]").
StatusOr<TensorType> ParseTensorType(std::string_view text);

}  // namespace autosp::ir
