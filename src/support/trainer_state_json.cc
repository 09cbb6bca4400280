#include "support/trainer_state_json.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace autosp {

StatusOr<ParsedTrainerState> ParseTrainerStateJson(std::string_view text, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return ParseError("{}: not a valid trainer state (not a JSON object)", where);
  }
  // Counts index the data and the schedule: whole numbers, not negative,
  // small enough that step arithmetic cannot overflow.
  auto count = [&](const char* key) -> StatusOr<int64_t> {
    if (!j.contains(key)) return ParseError("{}: no \"{}\"", where, key);
    const nlohmann::json& v = j[key];
    constexpr int64_t kMax = int64_t{1} << 53;
    const bool whole = v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    if (!whole || v.get<uint64_t>() > static_cast<uint64_t>(kMax)) {
      return ParseError("{}: \"{}\" = {}: allowed: a whole number from 0 to 2^53", where, key,
                        v.dump());
    }
    return v.get<int64_t>();
  };
  ParsedTrainerState state;
  AUTOSP_ASSIGN_OR_RETURN(state.step, count("step"));
  AUTOSP_ASSIGN_OR_RETURN(state.data_position, count("data_position"));
  if (j.contains("loss_scaler")) {
    const nlohmann::json& l = j["loss_scaler"];
    auto integer = [&](const char* key, int64_t min) -> StatusOr<int64_t> {
      if (!l.is_object() || !l.contains(key) || !l[key].is_number_integer() ||
          l[key].get<int64_t>() < min || l[key].get<int64_t>() > (int64_t{1} << 53)) {
        return ParseError("{}: \"loss_scaler.{}\" must be a whole number >= {}", where, key, min);
      }
      return l[key].get<int64_t>();
    };
    ParsedTrainerState::LossScaler scaler;
    if (!l.is_object() || !l.contains("scale") || !l["scale"].is_number() ||
        !(l["scale"].get<double>() > 0) || !std::isfinite(l["scale"].get<double>())) {
      return ParseError("{}: \"loss_scaler.scale\" must be a positive number", where);
    }
    scaler.scale = l["scale"].get<double>();
    AUTOSP_ASSIGN_OR_RETURN(scaler.hysteresis_left, integer("hysteresis_left", 1));
    AUTOSP_ASSIGN_OR_RETURN(scaler.iteration, integer("iteration", 0));
    AUTOSP_ASSIGN_OR_RETURN(scaler.last_overflow, integer("last_overflow", -1));
    AUTOSP_ASSIGN_OR_RETURN(scaler.skipped, integer("skipped", 0));
    state.loss_scaler = scaler;
  }
  // Steps that updated nothing (fp16 overflow, non-finite skips); older
  // checkpoints only have the loss scaler's count.
  if (j.contains("skipped_steps")) {
    AUTOSP_ASSIGN_OR_RETURN(state.skipped_steps, count("skipped_steps"));
  } else if (state.loss_scaler) {
    state.skipped_steps = state.loss_scaler->skipped;
  }
  if (state.skipped_steps > state.step) {
    return ParseError("{}: \"skipped_steps\" = {} exceeds \"step\" = {}", where,
                      state.skipped_steps, state.step);
  }
  if (j.contains("optimizer_shards")) {
    // Moments sharded as trained: one file per part.
    const nlohmann::json& l = j["optimizer_shards"];
    if (!l.is_object()) return ParseError("{}: \"optimizer_shards\" must be an object", where);
    for (const char* key : {"numel", "world", "parts", "bucket"}) {
      if (!l.contains(key) || !l[key].is_number_integer() || l[key].get<int64_t>() < 0 ||
          (std::string(key) != "numel" && l[key].get<int64_t>() < 1)) {
        return ParseError("{}: \"optimizer_shards.{}\" must be a positive integer", where, key);
      }
    }
    const ParsedTrainerState::ShardLayout layout{l["numel"].get<int64_t>(), l["world"].get<int64_t>(),
                                                 l["parts"].get<int64_t>(), l["bucket"].get<int64_t>()};
    if (layout.parts > (int64_t{1} << 20)) {
      return ParseError("{}: {} optimizer shards is implausible", where, layout.parts);
    }
    state.optimizer_shards = layout;
  }
  const bool has_order = j.contains("epoch") || j.contains("epoch_position") ||
                         j.contains("train_samples") || j.contains("shuffle") ||
                         j.contains("shuffle_seed");
  if (has_order) {
    ParsedTrainerState::DataOrder order;
    AUTOSP_ASSIGN_OR_RETURN(order.epoch, count("epoch"));
    AUTOSP_ASSIGN_OR_RETURN(order.epoch_position, count("epoch_position"));
    AUTOSP_ASSIGN_OR_RETURN(order.train_samples, count("train_samples"));
    if (!j.contains("shuffle") || !j["shuffle"].is_boolean()) {
      return ParseError("{}: \"shuffle\" must be true or false", where);
    }
    order.shuffle = j["shuffle"].get<bool>();
    if (!j.contains("shuffle_seed") || !j["shuffle_seed"].is_number_unsigned()) {
      return ParseError("{}: \"shuffle_seed\" must be a whole number from 0 to 2^64 - 1", where);
    }
    order.seed = j["shuffle_seed"].get<uint64_t>();
    if (order.train_samples < 1 || order.epoch_position >= order.train_samples) {
      return ParseError("{}: \"epoch_position\" = {} must be below \"train_samples\" = {} (>= 1)",
                        where, order.epoch_position, order.train_samples);
    }
    // epoch * train_samples + epoch_position, without overflow (both <= 2^53).
    const bool consistent = order.epoch == state.data_position / order.train_samples &&
                            order.epoch_position == state.data_position % order.train_samples;
    if (!consistent) {
      return ParseError(
          "{}: \"data_position\" = {} is not \"epoch\" ({}) x \"train_samples\" "
          "({}) + \"epoch_position\" ({})",
          where, state.data_position, order.epoch, order.train_samples, order.epoch_position);
    }
    state.data_order = order;
  }
  return state;
}

}  // namespace autosp
