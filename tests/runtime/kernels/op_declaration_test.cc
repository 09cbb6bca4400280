// Every op's kernel against what the op declares (ir::OpDef::result_strides
// and OpTraits::view_of): each result is a view of the declared operand's
// storage, or fresh storage, with the strides the rule predicts from the
// operands' actual layouts. The memory plan relies on these declarations (a
// view costs nothing, a reshape of a non-viewable layout copies), so a kernel
// that drifts from them fails here, naming the op.
//
// The graphs below run node by node, each kernel on the tensors the previous
// kernels returned, so operands come with real layouts: transposed, sliced,
// broadcast. Strides are compared on dims of size > 1 (ATen leaves the
// stride of a size-1 dim arbitrary).
#include <ATen/ATen.h>

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/op_registry.h"
#include "ir/parser.h"
#include "ir/strides.h"
#include "ir/verifier.h"
#include "runtime/comm/mesh.h"
#include "runtime/kernel_registry.h"
#include "tests/runtime/comm/comm_test_util.h"

namespace autosp::runtime {
namespace {

// --- the graphs ----------------------------------------------------------------------

const char* kLinalg = R"(
graph @linalg(%ids: i64[2, 3], %w: f32[16, 8], %x: f32[2, 3, 8], %lw: f32[4, 8], %lb: f32[4],
              %a: f32[2, 3, 5], %b: f32[5, 7]) {
  %e = embedding(%ids, %w) {padding_idx=0} : f32[2, 3, 8]
  %l = linear(%x, %lw, %lb) : f32[2, 3, 4]
  %xt = transpose(%x) {dim0=0, dim1=1} : f32[3, 2, 8]
  %lt = linear(%xt, %lw) : f32[3, 2, 4]
  %m = matmul(%a, %b) : f32[2, 3, 7]
  %at = transpose(%a) {dim0=1, dim1=2} : f32[2, 5, 3]
  %mb = matmul(%at, %a) : f32[2, 5, 5]
  return %e, %l, %lt, %m, %mb
})";

const char* kElementwise = R"(
graph @elementwise(%x: f32[2, 3, 8], %y: f32[8], %z: f32[8, 2, 3], %i: i64[2, 3], %j: i64[2, 3]) {
  %xt = transpose(%x) {dim0=1, dim1=2} : f32[2, 8, 3]
  %zp = permute(%z) {dims=[1, 2, 0]} : f32[2, 3, 8]
  %add = add(%x, %y) : f32[2, 3, 8]
  %addt = add(%xt, %xt) : f32[2, 8, 3]
  %mix = add(%zp, %x) : f32[2, 3, 8]
  %sub = sub(%x, %zp) : f32[2, 3, 8]
  %mul = mul(%zp, %y) : f32[2, 3, 8]
  %div = div(%xt, %addt) : f32[2, 8, 3]
  %idiv = div(%i, %j) : i64[2, 3]
  %neg = neg(%xt) : f32[2, 8, 3]
  %exp = exp(%zp) : f32[2, 3, 8]
  %log = log(%x) : f32[2, 3, 8]
  %rsqrt = rsqrt(%xt) : f32[2, 8, 3]
  %sqrt = sqrt(%zp) : f32[2, 3, 8]
  %pow = pow(%xt) {exponent=2.0} : f32[2, 8, 3]
  %silu = silu(%zp) : f32[2, 3, 8]
  %gelu = gelu(%xt) {approximate="tanh"} : f32[2, 8, 3]
  %softplus = softplus(%xt) : f32[2, 8, 3]
  %drop = dropout(%zp) {p=0.25} : f32[2, 3, 8]
  %ne = not_equal(%xt) {value=0.5} : bool[2, 8, 3]
  %cast = cast(%xt) {dtype=bf16} : bf16[2, 8, 3]
  %same = cast(%zp) {dtype=f32} : f32[2, 3, 8]
  %strided = slice(%x) {dim=2, end=8, start=0, step=2} : f32[2, 3, 4]
  %cast_strided = cast(%strided) {dtype=bf16} : bf16[2, 3, 4]
  return %add, %mix, %sub, %mul, %div, %idiv, %neg, %exp, %log, %rsqrt, %sqrt, %pow, %silu, %gelu, %softplus, %drop, %ne, %cast, %same, %cast_strided
})";

const char* kReduction = R"(
graph @reduction(%x: f32[2, 3, 8], %w: f32[8], %b: f32[8], %labels: i64[2, 3], %h: bf16[2, 3, 8],
                 %head: f32[5, 8], %hb: f32[5], %hl: i64[4, 7], %hx: f32[4, 7, 8]) {
  %xt = transpose(%x) {dim0=0, dim1=1} : f32[3, 2, 8]
  %sm = softmax(%xt) {dim=-1} : f32[3, 2, 8]
  %lsm = log_softmax(%x) {dim=1} : f32[2, 3, 8]
  %sum = sum(%xt) {dims=[1], keepdim=true} : f32[3, 1, 8]
  %mean = mean(%x) {dims=[]} : f32[]
  %rms = rms_norm(%xt, %w) {eps=1e-06} : f32[3, 2, 8]
  %rms_h = rms_norm(%h) {eps=1e-06} : bf16[2, 3, 8]
  %ln = layer_norm(%xt, %w, %b) {eps=1e-05} : f32[3, 2, 8]
  %ce = cross_entropy(%x, %labels) {ignore_index=-100, reduction="mean"} : f32[]
  %hce = lm_head_cross_entropy(%hx, %head, %hl, %hb) {chunk_tokens=3, reduction="none"} : f32[4, 7]
  return %sm, %lsm, %sum, %mean, %rms, %rms_h, %ln, %ce, %hce
})";

const char* kShape = R"(
graph @shape(%x: f32[2, 3, 8], %y: f32[2, 3, 8], %c4: f32[2, 4, 6, 8]) {
  %view = reshape(%x) {shape=[6, 8]} : f32[6, 8]
  %xt = transpose(%x) {dim0=1, dim1=2} : f32[2, 8, 3]
  %copy = reshape(%xt) {shape=[2, 24]} : f32[2, 24]
  %split_view = reshape(%xt) {shape=[2, 2, 4, 3]} : f32[2, 2, 4, 3]
  %p = permute(%x) {dims=[2, 0, 1]} : f32[8, 2, 3]
  %s = sum(%x) {dims=[1], keepdim=true} : f32[2, 1, 8]
  %e = expand(%s) {shape=[4, 2, 3, 8]} : f32[4, 2, 3, 8]
  %sl = slice(%x) {dim=1, end=3, start=1} : f32[2, 2, 8]
  %sls = slice(%xt) {dim=2, end=3, start=0, step=2} : f32[2, 8, 2]
  %c = cat(%x, %y) {dim=1} : f32[2, 6, 8]
  %ct = cat(%xt, %xt) {dim=0} : f32[4, 8, 3]
  %c4t = permute(%c4) {dims=[0, 2, 1, 3]} : f32[2, 6, 4, 8]
  %cat4 = cat(%c4t, %c4t) {dim=3} : f32[2, 6, 4, 16]
  %a, %b, %c2 = split(%x) {dim=2, sizes=[2, 2, 4]} : f32[2, 3, 2], f32[2, 3, 2], f32[2, 3, 4]
  %at, %bt = split(%xt) {dim=1, sizes=[3, 5]} : f32[2, 3, 3], f32[2, 5, 3]
  return %view, %copy, %split_view, %p, %e, %sl, %sls, %c, %ct, %cat4, %a, %b, %c2, %at, %bt
})";

const char* kAttention = R"(
graph @attention(%q: f32[2, 4, 6, 8], %k: f32[2, 2, 6, 8], %v: f32[2, 2, 6, 8], %kf: f32[2, 4, 6, 8],
                 %vf: f32[2, 4, 6, 8], %pos: i64[2, 6], %mask: bool[2, 1, 6, 6],
                 %qs: f32[2, 6, 4, 8], %qw: f32[2, 4, 6, 16], %qkv: f32[2, 6, 96],
                 %seg: i64[2, 6]) {
  %qr = apply_rope(%q, %pos) : f32[2, 4, 6, 8]
  %qp = permute(%qs) {dims=[0, 2, 1, 3]} : f32[2, 4, 6, 8]
  %qrp = apply_rope(%qp, %pos) {rope_type="llama3", factor=8.0} : f32[2, 4, 6, 8]
  %qn = slice(%qw) {dim=3, end=8, start=0} : f32[2, 4, 6, 8]
  %q3, %k3, %v3 = split(%qkv) {dim=2, sizes=[32, 32, 32]} : f32[2, 6, 32], f32[2, 6, 32], f32[2, 6, 32]
  %q4 = reshape(%q3) {shape=[2, 6, 4, 8]} : f32[2, 6, 4, 8]
  %qg = permute(%q4) {dims=[0, 2, 1, 3]} : f32[2, 4, 6, 8]
  %a = scaled_dot_product_attention(%q, %k, %v) {causal=true} : f32[2, 4, 6, 8]
  %ap = scaled_dot_product_attention(%qp, %kf, %vf, %mask) : f32[2, 4, 6, 8]
  %an = scaled_dot_product_attention(%qn, %kf, %vf) : f32[2, 4, 6, 8]
  %anm = scaled_dot_product_attention(%qn, %k, %v, %mask) {causal=true} : f32[2, 4, 6, 8]
  %ag = scaled_dot_product_attention(%qg, %kf, %vf) {causal=true} : f32[2, 4, 6, 8]
  %o, %lse = sdpa_forward(%q, %k, %v) {causal=true} : f32[2, 4, 6, 8], f32[2, 4, 6]
  %op, %lsep = sdpa_forward(%qp, %kf, %vf, %mask) : f32[2, 4, 6, 8], f32[2, 4, 6]
  %on, %lsen = sdpa_forward(%qn, %kf, %vf) {causal=true} : f32[2, 4, 6, 8], f32[2, 4, 6]
  %onm, %lsenm = sdpa_forward(%qn, %k, %v, %mask) : f32[2, 4, 6, 8], f32[2, 4, 6]
  %og, %lseg = sdpa_forward(%qg, %k, %v) {causal=true} : f32[2, 4, 6, 8], f32[2, 4, 6]
  %dq, %dk, %dv = sdpa_backward(%o, %q, %k, %v, %o, %lse) {causal=true} : f32[2, 4, 6, 8], f32[2, 2, 6, 8], f32[2, 2, 6, 8]
  %dqp, %dkp, %dvp = sdpa_backward(%op, %qp, %kf, %vf, %op, %lsep, %mask) : f32[2, 4, 6, 8], f32[2, 4, 6, 8], f32[2, 4, 6, 8]
  %dqn, %dkn, %dvn = sdpa_backward(%qp, %qn, %k, %v, %onm, %lsenm, %mask) : f32[2, 4, 6, 8], f32[2, 2, 6, 8], f32[2, 2, 6, 8]
  %dqg, %dkg, %dvg = sdpa_backward(%og, %qg, %k, %v, %og, %lseg) {causal=true} : f32[2, 4, 6, 8], f32[2, 2, 6, 8], f32[2, 2, 6, 8]
  %sa = segmented_attention(%qg, %k, %v, %seg) {causal=true} : f32[2, 4, 6, 8]
  %so, %slse = segmented_sdpa_forward(%qp, %k, %v, %seg) {causal=true} : f32[2, 4, 6, 8], f32[2, 4, 6]
  %sof, %slsef = segmented_sdpa_forward(%q, %kf, %vf, %seg) : f32[2, 4, 6, 8], f32[2, 4, 6]
  %sdq, %sdk, %sdv = segmented_sdpa_backward(%so, %qp, %k, %v, %so, %slse, %seg) {causal=true} : f32[2, 4, 6, 8], f32[2, 2, 6, 8], f32[2, 2, 6, 8]
  %sdqf, %sdkf, %sdvf = segmented_sdpa_backward(%qn, %q, %kf, %vf, %sof, %slsef, %seg) : f32[2, 4, 6, 8], f32[2, 4, 6, 8], f32[2, 4, 6, 8]
  return %qr, %qrp, %a, %ap, %an, %anm, %ag, %o, %lse, %op, %lsep, %on, %lsen, %onm, %lsenm, %og, %lseg, %dqg, %dkg, %dvg, %dq, %dk, %dv, %dqp, %dkp, %dvp, %dqn, %dkn, %dvn, %sa, %so, %slse, %sof, %slsef, %sdq, %sdk, %sdv, %sdqf, %sdkf, %sdvf
})";

const char* kCreation = R"(
graph @creation() {
  %f = full() {dtype=f32, shape=[2, 3], value=1.5} : f32[2, 3]
  %s = full() {dtype=f32, shape=[], value=0.5} : f32[]
  %r = arange() {end=5} : i64[5]
  %r2 = arange() {dtype=f32, end=7, start=2} : f32[5]
  return %f, %s, %r, %r2
})";

const char* kBackward = R"(
graph @backward(%ids: i64[2, 3], %labels: i64[2, 3], %x: f32[2, 3, 8], %g: f32[2, 3, 8],
                %z: f32[8, 2, 3], %w: f32[8], %b: f32[8], %logits: f32[2, 3, 5], %h: bf16[2, 3, 8],
                %gh: bf16[2, 3, 8], %wh: bf16[8], %head: f32[5, 8], %hl: i64[4, 7],
                %hx: f32[4, 7, 8], %hg: f32[4, 7]) {
  %zp = permute(%z) {dims=[1, 2, 0]} : f32[2, 3, 8]
  %demb = embedding_backward(%g, %ids) {num_weights=16} : f32[16, 8]
  %dsilu = silu_backward(%g, %x) : f32[2, 3, 8]
  %dsilu_p = silu_backward(%zp, %x) : f32[2, 3, 8]
  %dgelu = gelu_backward(%zp, %zp) {approximate="tanh"} : f32[2, 3, 8]
  %ddrop = dropout_backward(%zp, %x) {p=0.1} : f32[2, 3, 8]
  %dsm = softmax_backward(%g, %zp) {dim=-1} : f32[2, 3, 8]
  %dlsm = log_softmax_backward(%zp, %x) {dim=1} : f32[2, 3, 8]
  %drx, %drw = rms_norm_backward(%g, %x, %w) {eps=1e-06} : f32[2, 3, 8], f32[8]
  %drx_p = rms_norm_backward(%zp, %x) {eps=1e-06} : f32[2, 3, 8]
  %drx_h, %drw_h = rms_norm_backward(%gh, %h, %wh) {eps=1e-06} : bf16[2, 3, 8], bf16[8]
  %dlx, %dlw, %dlb = layer_norm_backward(%zp, %x, %w, %b) {eps=1e-05} : f32[2, 3, 8], f32[8], f32[8]
  %one = full() {dtype=f32, shape=[], value=1.0} : f32[]
  %dlogits = cross_entropy_backward(%one, %logits, %labels) {ignore_index=-100, reduction="mean"} : f32[2, 3, 5]
  %dhx, %dhead = lm_head_cross_entropy_backward(%hg, %hx, %head, %hl) {chunk_tokens=5, reduction="none"} : f32[4, 7, 8], f32[5, 8]
  %dhm, %dheadm = lm_head_cross_entropy_backward(%one, %hx, %head, %hl) {chunk_tokens=64} : f32[4, 7, 8], f32[5, 8]
  %part = slice(%g) {dim=1, end=3, start=1} : f32[2, 2, 8]
  %dslice = slice_backward(%part) {dim=1, end=3, input_shape=[2, 3, 8], start=1} : f32[2, 3, 8]
  %dbias = sum_to_shape(%zp) {shape=[8]} : f32[8]
  %dsame = sum_to_shape(%zp) {shape=[2, 3, 8]} : f32[2, 3, 8]
  %m = mean(%g) {dims=[1]} : f32[2, 8]
  %dmean = mean_backward(%m) {dims=[1], input_shape=[2, 3, 8]} : f32[2, 3, 8]
  return %demb, %dsilu, %dsilu_p, %dgelu, %ddrop, %dsm, %dlsm, %drx, %drw, %drx_p, %drx_h, %dlx, %dlogits, %dslice, %dbias, %dsame, %dmean, %dhx, %dhead, %dhm, %dheadm
})";

const char* kCollective = R"(
graph @collective(%x: f32[2, 4, 6, 8], %y: f32[6, 4, 2, 8]) {
  mesh sp = 2
  %yt = permute(%y) {dims=[2, 1, 0, 3]} : f32[2, 4, 6, 8]
  %a2a = all_to_all(%x) {axis="sp", concat_dim=1, split_dim=2} : f32[2, 8, 3, 8]
  %a2a_t = all_to_all(%yt) {axis="sp", concat_dim=2, split_dim=1} : f32[2, 2, 12, 8]
  %ar = all_reduce(%yt) {axis="sp", op="sum"} : f32[2, 4, 6, 8]
  %ag = all_gather(%x) {axis="sp", dim=2} : f32[2, 4, 12, 8]
  %rs = reduce_scatter(%yt) {axis="sp", dim=1, op="sum"} : f32[2, 2, 6, 8]
  %lc = local_chunk(%x) {axis="sp", dim=3} : f32[2, 4, 6, 4]
  %lc_t = local_chunk(%yt) {axis="sp", dim=2} : f32[2, 4, 3, 8]
  return %a2a, %a2a_t, %ar, %ag, %rs, %lc, %lc_t
})";

// --- running and checking ------------------------------------------------------------

at::Tensor MakeInput(const ir::TensorType& t) {
  std::vector<int64_t> shape;
  for (const ir::DimExpr& d : t.dims) shape.push_back(d.constant_value());
  const at::ScalarType dtype = ToScalarType(t.dtype);
  if (ir::IsFloatingPoint(t.dtype)) return at::randn(shape, at::kFloat).to(dtype);
  if (t.dtype == ir::DType::kBool) return at::ones(shape, at::kBool);
  return at::randint(1, 3, shape, at::kLong).to(dtype);  // ids, labels, positions, divisors
}

std::string Show(at::IntArrayRef v) { return fmt::format("[{}]", fmt::join(v, ", ")); }

/// Runs `text` node by node and checks every result against its op's
/// declaration. Returns one message per mismatch (naming the op and the
/// node) and adds the kinds it ran to `covered`.
std::vector<std::string> CheckGraph(const std::string& text, const ExecOptions& options,
                                    std::set<ir::OpKind>& covered) {
  std::vector<std::string> failures;
  auto parsed = ir::ParseGraph(text);
  if (!parsed.ok()) return {parsed.status().ToString()};
  const ir::Graph& g = **parsed;
  if (Status s = ir::VerifyGraph(g); !s.ok()) return {s.ToString()};
  std::unordered_map<const ir::Value*, at::Tensor> values;
  for (const ir::Value* in : g.inputs()) values[in] = MakeInput(in->type());
  const ir::DimBindings bindings;  // every dim is a constant
  for (const ir::Node* n : g.nodes()) {
    const ir::OpDef& def = n->def();
    auto fail = [&](const std::string& what) {
      failures.push_back(fmt::format("op '{}': {} ({})", def.name, what, n->ToString()));
    };
    std::vector<at::Tensor> args;
    for (const ir::Value* v : n->operands()) args.push_back(values.at(v));
    KernelFn kernel = KernelRegistry::Global().Find(n->kind());
    if (kernel == nullptr) {
      fail("no kernel");
      continue;
    }
    KernelContext ctx(*n, bindings, options, args);
    Status status;
    try {
      status = kernel(ctx);
    } catch (const std::exception& e) {
      status = InternalError("{}", e.what());
    }
    if (!status.ok()) {
      fail("kernel failed: " + status.ToString());
      continue;
    }
    if (ctx.outputs().size() != n->num_results()) {
      fail(fmt::format("kernel returned {} results", ctx.outputs().size()));
      continue;
    }
    covered.insert(n->kind());
    std::vector<ir::Strided> layouts;
    for (const at::Tensor& t : args) layouts.push_back({t.sizes().vec(), t.strides().vec()});
    std::vector<const ir::Strided*> operands;
    for (const ir::Strided& s : layouts) operands.push_back(&s);
    for (size_t i = 0; i < n->num_results(); ++i) {
      const at::Tensor& out = ctx.outputs()[i];
      values[n->result(i)] = out;
      if (out.scalar_type() != ToScalarType(n->result(i)->dtype())) {
        fail(fmt::format("result {} is {}, the type says {}", i,
                         c10::toString(out.scalar_type()), ir::DTypeName(n->result(i)->dtype())));
        continue;
      }
      const std::vector<int64_t> sizes = out.sizes().vec();
      std::vector<int64_t> declared_sizes;
      for (const ir::DimExpr& d : n->result(i)->type().dims) {
        declared_sizes.push_back(d.constant_value());
      }
      if (sizes != declared_sizes) {
        fail(fmt::format("result {} has sizes {}, the type says {}", i, Show(sizes),
                         Show(declared_sizes)));
        continue;
      }
      const ir::ResultStrides want = def.result_strides(ir::StridesInput{*n, i, sizes, operands});
      if (def.traits.view_of >= 0 && want.alias_operand != def.traits.view_of) {
        fail(fmt::format("result {}: traits say a view of operand {}, the strides rule says {}",
                         i, def.traits.view_of, want.alias_operand));
      }
      if (want.alias_operand >= 0) {
        if (!out.is_alias_of(args.at(static_cast<size_t>(want.alias_operand)))) {
          fail(fmt::format("result {} is declared a view of operand {}; the kernel returned "
                           "fresh storage", i, want.alias_operand));
        }
      } else {
        for (size_t k = 0; k < args.size(); ++k) {
          if (out.is_alias_of(args[k])) {
            fail(fmt::format("result {} is declared fresh; the kernel returned a view of "
                             "operand {}", i, k));
          }
        }
      }
      bool same = want.strides.size() == sizes.size();
      for (size_t d = 0; same && d < sizes.size(); ++d) {
        same = sizes[d] <= 1 || want.strides[d] == out.stride(static_cast<int64_t>(d));
      }
      if (!same) {
        fail(fmt::format("result {} {}: declared strides {}, the kernel's are {}", i,
                         Show(sizes), Show(want.strides), Show(out.strides())));
      }
    }
  }
  return failures;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += "\n  " + l;
  return s;
}

TEST(OpDeclarationTest, KernelsProduceTheDeclaredLayouts) {
  at::manual_seed(3);
  std::set<ir::OpKind> covered;
  std::vector<std::string> failures;
  for (const char* text :
       {kLinalg, kElementwise, kReduction, kShape, kAttention, kCreation, kBackward}) {
    for (std::string& f : CheckGraph(text, {}, covered)) failures.push_back(std::move(f));
  }
  // Collectives on two in-process ranks (one rank would make them no-ops).
  std::mutex mu;
  testing::RunRanks(2, [&](CommWorld& world) {
    CommMesh mesh = BuildCommMesh(world, {1, 2});
    ExecOptions options;
    options.mesh_axes["sp"] = mesh.sp.get();
    std::set<ir::OpKind> rank_covered;
    std::vector<std::string> rank_failures = CheckGraph(kCollective, options, rank_covered);
    std::lock_guard<std::mutex> lock(mu);
    for (std::string& f : rank_failures) {
      failures.push_back(fmt::format("rank {}: {}", world.rank(), f));
    }
    covered.insert(rank_covered.begin(), rank_covered.end());
  });
  EXPECT_TRUE(failures.empty()) << failures.size() << " mismatches:" << Join(failures);

  std::vector<std::string> missing;
  for (int k = 0; k < ir::kNumOpKinds; ++k) {
    const auto kind = static_cast<ir::OpKind>(k);
    if (!covered.contains(kind)) missing.push_back(std::string(ir::OpKindName(kind)));
  }
  EXPECT_TRUE(missing.empty()) << "ops no graph here runs (add one):" << Join(missing);
}

/// `text` with every f32 value and dtype attribute in `dtype` ("bf16"),
/// except the attention logsumexp [2, 4, 6] and the fused head's loss [4, 7],
/// which are f32 by definition.
std::string InDType(std::string text, const std::string& dtype) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"f32[", dtype + "["}, {"dtype=f32", "dtype=" + dtype}}) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
      text.replace(at, from.size(), to);
      at += to.size();
    }
  }
  // And the fused LM head's loss [4, 7], f32 by definition (so its gradient too).
  for (const char* keep : {"[2, 4, 6]", "[4, 7]"}) {
    const std::string low = dtype + keep;
    for (size_t at = text.find(low); at != std::string::npos; at = text.find(low, at)) {
      text.replace(at, low.size(), std::string("f32") + keep);
    }
  }
  return text;
}

// Mixed precision: every kernel takes bf16 / f16 operands and returns the
// dtypes shape inference declares (the executor checks them), with the same
// layouts as in f32.
TEST(OpDeclarationTest, KernelsKeepTheDeclaredLowPrecisionDTypes) {
  for (const std::string dtype : {"bf16", "f16"}) {
    SCOPED_TRACE(dtype);
    at::manual_seed(3);
    std::set<ir::OpKind> covered;
    std::vector<std::string> failures;
    for (const char* text :
         {kLinalg, kElementwise, kReduction, kShape, kAttention, kCreation, kBackward}) {
      for (std::string& f : CheckGraph(InDType(text, dtype), {}, covered)) {
        failures.push_back(std::move(f));
      }
    }
    std::mutex mu;
    testing::RunRanks(2, [&](CommWorld& world) {
      CommMesh mesh = BuildCommMesh(world, {1, 2});
      ExecOptions options;
      options.mesh_axes["sp"] = mesh.sp.get();
      std::set<ir::OpKind> rank_covered;
      std::vector<std::string> rank_failures =
          CheckGraph(InDType(kCollective, dtype), options, rank_covered);
      std::lock_guard<std::mutex> lock(mu);
      for (std::string& f : rank_failures) {
        failures.push_back(fmt::format("rank {}: {}", world.rank(), f));
      }
    });
    EXPECT_TRUE(failures.empty()) << failures.size() << " mismatches:" << Join(failures);
    EXPECT_EQ(covered.size(), static_cast<size_t>(ir::kNumOpKinds - 5));  // all but collectives
  }
}

}  // namespace
}  // namespace autosp::runtime
