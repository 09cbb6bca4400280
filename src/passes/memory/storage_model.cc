#include "passes/memory/storage_model.h"

namespace autosp::passes::memplan {

StorageModel::StorageModel(const ir::Graph& graph, size_t stream_outputs_from) {
  int step = 0;
  for (const ir::Node* n : graph.nodes()) {
    for (const ir::Value* v : n->operands()) last_use_[v] = step;
    for (size_t i = 0; i < n->num_results(); ++i) last_use_.try_emplace(n->result(i), step);
    ++step;
  }
  for (size_t i = 0; i < graph.outputs().size() && i < stream_outputs_from; ++i) {
    pinned_.insert(graph.outputs()[i]);
  }
}

void StorageModel::AddInput(const ir::Value* v) {
  storages_.push_back(Storage{{}, /*charged=*/false, 0});
  storage_of_[v] = static_cast<int>(storages_.size()) - 1;
}

void StorageModel::AddFresh(const ir::Value* v, const Terms& bytes, Poly& live) {
  storages_.push_back(Storage{bytes, /*charged=*/true, 0});
  AddTo(live, bytes, 1);
  Hold(v, static_cast<int>(storages_.size()) - 1);
}

void StorageModel::AddView(const ir::Value* v, const ir::Value* base) {
  Hold(v, storage_of_.at(base));
}

void StorageModel::Hold(const ir::Value* v, int storage) {
  storage_of_[v] = storage;
  ++storages_[static_cast<size_t>(storage)].refs;
}

void StorageModel::Release(const ir::Value* v, int step, Poly& live) {
  if (pinned_.contains(v) || last_use_.at(v) != step || released_.contains(v)) return;
  released_.insert(v);
  Storage& s = storages_[static_cast<size_t>(storage_of_.at(v))];
  if (--s.refs == 0 && s.charged) AddTo(live, s.bytes, -1);
}

}  // namespace autosp::passes::memplan
