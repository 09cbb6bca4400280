// The memory planner's storage model (internal to src/passes/memory): which
// storage each value lives in and when the executor frees it.
//
// Executor rules: nodes run in list order; a value dies right after the node
// that uses it last (a result nobody uses dies at its own node); graph outputs
// never die. A view shares its base's storage, which is freed when its last
// value dies and counted once. Graph inputs live in caller-owned storages
// that are never charged (their views are free too).
#pragma once

#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"
#include "passes/memory/polynomial.h"

namespace autosp::passes::memplan {

class StorageModel {
 public:
  /// Records every value's last use (step = node index) and pins the outputs
  /// below index `stream_outputs_from` (the executor's streamed outputs die
  /// after their last use like any value).
  explicit StorageModel(const ir::Graph& graph, size_t stream_outputs_from = static_cast<size_t>(-1));

  /// A graph input: a caller-owned storage, never charged.
  void AddInput(const ir::Value* v);
  /// A fresh storage of `bytes` for `v`; the bytes join `live`.
  void AddFresh(const ir::Value* v, const Terms& bytes, Poly& live);
  /// `v` is a view of `base`: one more value holds base's storage.
  void AddView(const ir::Value* v, const ir::Value* base);
  /// Called at step `step` for the values it touches: when this is v's last
  /// use (and v is no output) v dies, and when v was the last value holding
  /// its storage, the storage's bytes leave `live`.
  void Release(const ir::Value* v, int step, Poly& live);

 private:
  struct Storage {
    Terms bytes;
    bool charged = false;
    int refs = 0;  ///< values alive in this storage
  };

  void Hold(const ir::Value* v, int storage);

  std::unordered_map<const ir::Value*, int> last_use_;
  std::unordered_set<const ir::Value*> pinned_;
  std::unordered_set<const ir::Value*> released_;
  std::unordered_map<const ir::Value*, int> storage_of_;
  std::vector<Storage> storages_;
};

}  // namespace autosp::passes::memplan
