#include "ir/strides.h"

#include <algorithm>
#include <numeric>

namespace autosp::ir {

std::vector<int64_t> ContiguousStrides(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> st(sizes.size(), 1);
  for (size_t i = sizes.size(); i-- > 1;) st[i - 1] = st[i] * std::max<int64_t>(sizes[i], 1);
  return st;
}

std::optional<std::vector<int64_t>> ComputeStride(const std::vector<int64_t>& shape,
                                                  const std::vector<int64_t>& stride,
                                                  const std::vector<int64_t>& target) {
  if (shape.empty()) return std::vector<int64_t>(target.size(), 1);
  std::vector<int64_t> out(target.size(), 1);
  int64_t view_d = static_cast<int64_t>(target.size()) - 1;
  int64_t chunk_base_stride = stride.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[static_cast<size_t>(d)];
    if (d == 0 || (shape[static_cast<size_t>(d - 1)] != 1 &&
                   stride[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[static_cast<size_t>(view_d)] == 1)) {
        out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= target[static_cast<size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = stride[static_cast<size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

std::vector<int64_t> IteratorStrides(const std::vector<int64_t>& sizes,
                                     std::span<const Strided* const> inputs) {
  const size_t nd = sizes.size();
  // Inputs' strides broadcast to `sizes` (right-aligned; broadcast dims 0).
  std::vector<std::vector<int64_t>> st;
  for (const Strided* in : inputs) {
    std::vector<int64_t> s(nd, 0);
    const size_t off = nd - std::min(nd, in->sizes.size());
    for (size_t i = 0; i < in->sizes.size() && i + off < nd; ++i) {
      s[i + off] = (in->sizes[i] == 1 && sizes[i + off] != 1) ? 0 : in->strides[i];
    }
    st.push_back(std::move(s));
  }
  // perm[0] is the fastest dim.
  std::vector<size_t> perm(nd);
  for (size_t i = 0; i < nd; ++i) perm[i] = nd - 1 - i;
  auto should_swap = [&](size_t d0, size_t d1) {
    for (const auto& s : st) {
      if (s[d0] == 0 || s[d1] == 0) continue;
      if (s[d0] < s[d1]) return -1;
      if (s[d0] > s[d1]) return 1;
      if (sizes[d0] > sizes[d1]) return 1;
    }
    return 0;
  };
  for (size_t i = 1; i < nd; ++i) {
    size_t d1 = i;
    for (size_t d0 = i; d0-- > 0;) {
      const int cmp = should_swap(perm[d0], perm[d1]);
      if (cmp > 0) {
        std::swap(perm[d0], perm[d1]);
        d1 = d0;
      } else if (cmp < 0) {
        break;
      }
    }
  }
  std::vector<int64_t> out(nd, 1);
  int64_t next = 1;
  for (size_t i = 0; i < nd; ++i) {
    out[perm[i]] = next;
    next *= std::max<int64_t>(sizes[perm[i]], 1);
  }
  return out;
}

bool IsDense(const Strided& t) {
  std::vector<size_t> order(t.sizes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return t.strides[a] < t.strides[b]; });
  int64_t expect = 1;
  for (size_t d : order) {
    if (t.sizes[d] == 1) continue;
    if (t.strides[d] != expect) return false;
    expect *= t.sizes[d];
  }
  return true;
}

bool FoldsWithoutCopy(const Strided& t) {
  if (t.sizes.size() <= 2) return true;
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < t.sizes.size(); ++i) rows *= t.sizes[i];
  return ComputeStride(t.sizes, t.strides, {rows, t.sizes.back()}).has_value();
}

ResultStrides FreshContiguous(const StridesInput& in) { return {ContiguousStrides(in.sizes)}; }

ResultStrides LikeOperands(const StridesInput& in) {
  return {IteratorStrides(in.sizes, in.operands)};
}

ResultStrides LikeFirstOperand(const StridesInput& in) {
  return {IteratorStrides(in.sizes, in.operands.first(std::min<size_t>(1, in.operands.size())))};
}

ResultStrides SubrangeView(const StridesInput& in) { return {in.operand(0).strides, 0}; }

}  // namespace autosp::ir
