#include "train/ds_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/units.h"
#include "support/file.h"

namespace autosp::train {
namespace {

using Json = nlohmann::json;

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// One JSON object of the config with the keys it may have. Check() warns
/// about unknown keys and renames near-misses to the key they misspell.
class Section {
 public:
  Section(std::string source, std::string prefix, Json object, std::set<std::string> known,
          std::vector<std::string>* warnings)
      : source_(std::move(source)),
        prefix_(std::move(prefix)),
        object_(std::move(object)),
        known_(std::move(known)),
        warnings_(warnings) {
    Json renamed = Json::object();
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      const std::string& key = it.key();
      if (known_.contains(key)) {
        renamed[key] = it.value();
        continue;
      }
      std::string best;
      size_t best_distance = 3;
      for (const std::string& k : known_) {
        const size_t d = EditDistance(key, k);
        if (d < best_distance && key.size() >= 4) {
          best = k;
          best_distance = d;
        }
      }
      if (!best.empty() && !object_.contains(best) && !renamed.contains(best)) {
        warnings_->push_back(fmt::format("{}: unknown key \"{}\", did you mean \"{}\"? (read as \"{}\")",
                                         source_, Path(key), Path(best), Path(best)));
        renamed[best] = it.value();
      } else {
        warnings_->push_back(fmt::format("{}: unknown key \"{}\" ignored", source_, Path(key)));
      }
    }
    object_ = std::move(renamed);
  }

  std::string Path(const std::string& key) const { return prefix_ + key; }
  const std::string& source() const { return source_; }
  bool Has(const std::string& key) const { return object_.contains(key); }
  const Json& At(const std::string& key) const { return object_.at(key); }

  Status Bad(const std::string& key, const std::string& allowed) const {
    return InvalidArgument("{}: \"{}\" = {}: {}", source_, Path(key), At(key).dump(), allowed);
  }

  Status Int(const std::string& key, int64_t min, int64_t* out) const {
    if (!Has(key)) return Status::Ok();
    const Json& v = At(key);
    if (!v.is_number_integer() || v.get<int64_t>() < min) {
      return Bad(key, fmt::format("allowed: an integer >= {}", min));
    }
    *out = v.get<int64_t>();
    return Status::Ok();
  }
  Status Double(const std::string& key, double min, double* out) const {
    if (!Has(key)) return Status::Ok();
    const Json& v = At(key);
    if (!v.is_number() || v.get<double>() < min) {
      return Bad(key, fmt::format("allowed: a number >= {}", min));
    }
    *out = v.get<double>();
    return Status::Ok();
  }
  Status Bool(const std::string& key, bool* out) const {
    if (!Has(key)) return Status::Ok();
    if (!At(key).is_boolean()) return Bad(key, "allowed: true or false");
    *out = At(key).get<bool>();
    return Status::Ok();
  }
  Status String(const std::string& key, std::string* out) const {
    if (!Has(key)) return Status::Ok();
    if (!At(key).is_string()) return Bad(key, "allowed: a string");
    *out = At(key).get<std::string>();
    return Status::Ok();
  }
  /// The sub-object `key` as a Section (an empty one when absent).
  StatusOr<Section> Object(const std::string& key, std::set<std::string> known) const {
    Json sub = Json::object();
    if (Has(key)) {
      if (!At(key).is_object()) return Bad(key, "allowed: an object");
      sub = At(key);
    }
    return Section(source_, Path(key) + ".", sub, std::move(known), warnings_);
  }

 private:
  std::string source_;
  std::string prefix_;
  Json object_;
  std::set<std::string> known_;
  std::vector<std::string>* warnings_;
};

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

Status ParseOptimizer(const Section& top, DsConfig* c) {
  if (!top.Has("optimizer")) return Status::Ok();
  AUTOSP_ASSIGN_OR_RETURN(Section opt, top.Object("optimizer", {"type", "params"}));
  std::string type = "Adam";
  AUTOSP_RETURN_IF_ERROR(opt.String("type", &type));
  std::string lower = type;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower == "adam") {
    c->optimizer.type = OptimizerConfig::Type::kAdam;
  } else if (lower == "adamw") {
    c->optimizer.type = OptimizerConfig::Type::kAdamW;
  } else {
    return opt.Bad("type", "allowed: \"Adam\" or \"AdamW\"");
  }
  AUTOSP_ASSIGN_OR_RETURN(Section p, opt.Object("params", {"lr", "betas", "eps", "weight_decay",
                                                           "adam_w_mode", "torch_adam"}));
  OptimizerConfig& o = c->optimizer;
  AUTOSP_RETURN_IF_ERROR(p.Double("lr", 0.0, &o.lr));
  AUTOSP_RETURN_IF_ERROR(p.Double("eps", 0.0, &o.eps));
  AUTOSP_RETURN_IF_ERROR(p.Double("weight_decay", 0.0, &o.weight_decay));
  AUTOSP_RETURN_IF_ERROR(p.Bool("adam_w_mode", &o.adam_w_mode));
  bool torch_adam = false;
  AUTOSP_RETURN_IF_ERROR(p.Bool("torch_adam", &torch_adam));
  if (o.type == OptimizerConfig::Type::kAdamW) o.adam_w_mode = true;
  if (p.Has("betas")) {
    const Json& b = p.At("betas");
    const bool ok = b.is_array() && b.size() == 2 && b[0].is_number() && b[1].is_number() &&
                    b[0].get<double>() >= 0 && b[0].get<double>() < 1 &&
                    b[1].get<double>() >= 0 && b[1].get<double>() < 1;
    if (!ok) return p.Bad("betas", "allowed: two numbers in [0, 1), e.g. [0.9, 0.999]");
    o.beta1 = b[0].get<double>();
    o.beta2 = b[1].get<double>();
  }
  return Status::Ok();
}

Status ParseScheduler(const Section& top, DsConfig* c) {
  if (!top.Has("scheduler")) return Status::Ok();
  AUTOSP_ASSIGN_OR_RETURN(Section sch, top.Object("scheduler", {"type", "params"}));
  std::string type;
  AUTOSP_RETURN_IF_ERROR(sch.String("type", &type));
  SchedulerConfig& s = c->scheduler;
  std::set<std::string> known;
  if (type == "WarmupLR") {
    s.type = SchedulerConfig::Type::kWarmupLr;
    known = {"warmup_min_lr", "warmup_max_lr", "warmup_num_steps", "warmup_type",
             "last_batch_iteration"};
  } else if (type == "WarmupCosineLR") {
    s.type = SchedulerConfig::Type::kWarmupCosineLr;
    known = {"total_num_steps", "warmup_min_ratio", "warmup_num_steps", "cos_min_ratio",
             "warmup_type", "last_batch_iteration"};
  } else {
    return sch.Has("type") ? sch.Bad("type", "allowed: \"WarmupLR\" or \"WarmupCosineLR\"")
                           : InvalidArgument("\"scheduler.type\" is missing; allowed: "
                                             "\"WarmupLR\" or \"WarmupCosineLR\"");
  }
  AUTOSP_ASSIGN_OR_RETURN(Section p, sch.Object("params", known));
  AUTOSP_RETURN_IF_ERROR(p.Double("warmup_min_lr", 0.0, &s.warmup_min_lr));
  AUTOSP_RETURN_IF_ERROR(p.Double("warmup_max_lr", 0.0, &s.warmup_max_lr));
  AUTOSP_RETURN_IF_ERROR(p.Int("warmup_num_steps", 0, &s.warmup_num_steps));
  AUTOSP_RETURN_IF_ERROR(p.Double("warmup_min_ratio", 0.0, &s.warmup_min_ratio));
  AUTOSP_RETURN_IF_ERROR(p.Double("cos_min_ratio", 0.0, &s.cos_min_ratio));
  if (p.Has("warmup_type")) {
    std::string wt;
    AUTOSP_RETURN_IF_ERROR(p.String("warmup_type", &wt));
    if (wt != "log" && wt != "linear") return p.Bad("warmup_type", "allowed: \"log\" or \"linear\"");
    s.warmup_log = wt == "log";
  }
  if (s.type == SchedulerConfig::Type::kWarmupCosineLr) {
    AUTOSP_RETURN_IF_ERROR(p.Int("total_num_steps", 1, &s.total_num_steps));
    if (s.total_num_steps <= s.warmup_num_steps) {
      return InvalidArgument("\"scheduler.params.total_num_steps\" ({}) must be greater than "
                             "\"scheduler.params.warmup_num_steps\" ({})",
                             s.total_num_steps, s.warmup_num_steps);
    }
  }
  return Status::Ok();
}

StatusOr<FloatType> ParseFloatType(const Section& s, const std::string& key) {
  const Json& v = s.At(key);
  if (v.is_string()) {
    const std::string t = v.get<std::string>();
    if (t == "fp32" || t == "float32" || t == "float") return FloatType::kFp32;
    if (t == "bf16" || t == "bfloat16") return FloatType::kBf16;
    if (t == "fp16" || t == "float16" || t == "half") return FloatType::kFp16;
  }
  return s.Bad(key, "allowed: \"fp32\", \"bf16\" or \"fp16\"");
}

Status ParsePrecision(const Section& top, bool on_cpu, DsConfig* c) {
  for (const char* key : {"bf16", "fp16"}) {
    if (!top.Has(key)) continue;
    AUTOSP_ASSIGN_OR_RETURN(
        Section s, top.Object(key, {"enabled", "loss_scale", "initial_scale_power",
                                    "loss_scale_window", "hysteresis", "min_loss_scale",
                                    "immediate_grad_update", "consecutive_hysteresis",
                                    "auto_cast"}));
    bool enabled = false;
    AUTOSP_RETURN_IF_ERROR(s.Bool("enabled", &enabled));
    (std::string(key) == "bf16" ? c->bf16 : c->fp16) = enabled;
    if (std::string(key) == "fp16") {
      LossScaleConfig& l = c->fp16_scaling;
      AUTOSP_RETURN_IF_ERROR(s.Double("loss_scale", 0.0, &l.loss_scale));
      AUTOSP_RETURN_IF_ERROR(s.Int("initial_scale_power", 0, &l.initial_scale_power));
      if (l.initial_scale_power > 60) return s.Bad("initial_scale_power", "allowed: 0 to 60");
      AUTOSP_RETURN_IF_ERROR(s.Int("loss_scale_window", 1, &l.loss_scale_window));
      AUTOSP_RETURN_IF_ERROR(s.Int("hysteresis", 1, &l.hysteresis));
      AUTOSP_RETURN_IF_ERROR(s.Double("min_loss_scale", 0.0, &l.min_loss_scale));
      if (l.min_loss_scale <= 0) return s.Bad("min_loss_scale", "allowed: a number > 0");
    }
  }
  if (c->bf16 && c->fp16) {
    return InvalidArgument("\"bf16.enabled\" and \"fp16.enabled\" are both true; allowed: at most "
                           "one of them");
  }
  if (top.Has("communication_data_type")) {
    AUTOSP_ASSIGN_OR_RETURN(c->communication_data_type,
                            ParseFloatType(top, "communication_data_type"));
  }
  AUTOSP_ASSIGN_OR_RETURN(Section types, top.Object("data_types", {"grad_accum_dtype"}));
  if (types.Has("grad_accum_dtype")) {
    AUTOSP_ASSIGN_OR_RETURN(c->grad_accum_dtype, ParseFloatType(types, "grad_accum_dtype"));
  }
  if (on_cpu && c->fp16) {
    c->warnings.push_back("\"fp16.enabled\": fp16 runs on the CPU, but slowly (no fast fp16 "
                          "kernels); bf16 is the fast low precision there");
  }
  return Status::Ok();
}

Status ParseAutoSp(const Section& top, const std::string& base_dir, DsConfig* c) {
  AUTOSP_ASSIGN_OR_RETURN(
      Section a,
      top.Object("autosp", {"checkpointing", "memory_budget", "packing", "seed", "train_steps",
                            "save_interval", "metrics_file", "max_nonfinite_steps", "keep_last_n",
                            "shuffle", "epochs", "validation"}));
  AutoSpSection& s = c->autosp;
  std::string policy(passes::CheckpointPolicyName(s.checkpointing));
  AUTOSP_RETURN_IF_ERROR(a.String("checkpointing", &policy));
  StatusOr<passes::CheckpointPolicy> parsed = passes::ParseCheckpointPolicy(policy);
  if (!parsed.ok()) return a.Bad("checkpointing", "allowed: \"none\", \"sac\" or \"full\"");
  s.checkpointing = *parsed;
  if (a.Has("memory_budget")) {
    const Json& v = a.At("memory_budget");
    if (v.is_number_integer() && v.get<int64_t>() >= 0) {
      s.memory_budget = v.get<int64_t>();
    } else if (v.is_string()) {
      StatusOr<int64_t> bytes = ParseBytes(v.get<std::string>());
      if (!bytes.ok()) return a.Bad("memory_budget", "allowed: a byte size such as \"16GiB\"");
      s.memory_budget = *bytes;
    } else {
      return a.Bad("memory_budget", "allowed: a byte size such as \"16GiB\" or an integer >= 0");
    }
  }
  if (a.Has("packing")) {
    const Json& v = a.At("packing");
    const std::string text = v.is_string() ? v.get<std::string>() : std::string();
    if (v.is_boolean()) {
      s.packing = v.get<bool>() ? PackingMode::kIsolated : PackingMode::kNone;
    } else if (text == "isolated") {
      s.packing = PackingMode::kIsolated;
    } else if (text == "concat") {
      s.packing = PackingMode::kConcat;
    } else if (text == "none") {
      s.packing = PackingMode::kNone;
    } else {
      return a.Bad("packing",
                   "allowed: \"isolated\" (or true: documents packed, each attending only to "
                   "itself), \"concat\" (packed, attention across documents) or \"none\" (or "
                   "false: one document per sample, padded)");
    }
  }
  int64_t seed = static_cast<int64_t>(s.seed);
  AUTOSP_RETURN_IF_ERROR(a.Int("seed", 0, &seed));
  s.seed = static_cast<uint64_t>(seed);
  AUTOSP_RETURN_IF_ERROR(a.Int("train_steps", 1, &s.train_steps));
  AUTOSP_RETURN_IF_ERROR(a.Int("save_interval", 0, &s.save_interval));
  AUTOSP_RETURN_IF_ERROR(a.String("metrics_file", &s.metrics_file));
  AUTOSP_RETURN_IF_ERROR(a.Int("max_nonfinite_steps", 1, &s.max_nonfinite_steps));
  AUTOSP_RETURN_IF_ERROR(a.Int("keep_last_n", 0, &s.keep_last_n));
  AUTOSP_RETURN_IF_ERROR(a.Bool("shuffle", &s.shuffle));
  if (a.Has("epochs")) {
    const Json& e = a.At("epochs");
    if (!e.is_number() || !(e.get<double>() > 0) || e.get<double>() > 1e9) {
      return a.Bad("epochs", "allowed: a number > 0");
    }
    s.epochs = e.get<double>();
    if (a.Has("train_steps")) {
      return InvalidArgument(
          "{}: \"autosp.epochs\" and \"autosp.train_steps\" are both set; "
          "allowed: one of them (--steps overrides either)",
          a.source());
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(
      Section v, a.Object("validation", {"fraction", "data_path", "interval", "max_batches"}));
  ValidationSection& val = s.validation;
  if (v.Has("fraction")) {
    const Json& f = v.At("fraction");
    if (!f.is_number() || !(f.get<double>() > 0 && f.get<double>() < 1)) {
      return v.Bad("fraction", "allowed: a number between 0 and 1 (exclusive), e.g. 0.01");
    }
    val.fraction = f.get<double>();
  }
  AUTOSP_RETURN_IF_ERROR(v.String("data_path", &val.data_path));
  if (v.Has("data_path") && val.data_path.empty()) {
    return v.Bad("data_path", "allowed: a path to a .tok or .npy token file");
  }
  val.data_path = Resolve(base_dir, val.data_path);
  if (val.fraction > 0 && !val.data_path.empty()) {
    return InvalidArgument(
        "{}: \"autosp.validation.fraction\" and \"autosp.validation.data_path\" "
        "are both set; allowed: one of them",
        a.source());
  }
  AUTOSP_RETURN_IF_ERROR(v.Int("interval", 0, &val.interval));
  AUTOSP_RETURN_IF_ERROR(v.Int("max_batches", 0, &val.max_batches));
  if (!val.enabled() && (v.Has("interval") || v.Has("max_batches"))) {
    return InvalidArgument(
        "{}: \"autosp.validation\" has no validation data; set \"fraction\" "
        "(a share of the training data to hold out) or \"data_path\"",
        a.source());
  }
  return Status::Ok();
}

Status ParseMonitor(const Section& top, const std::string& key, MonitorSection* m) {
  AUTOSP_ASSIGN_OR_RETURN(Section s, top.Object(key, {"enabled", "output_path", "job_name"}));
  AUTOSP_RETURN_IF_ERROR(s.Bool("enabled", &m->enabled));
  AUTOSP_RETURN_IF_ERROR(s.String("output_path", &m->output_path));
  AUTOSP_RETURN_IF_ERROR(s.String("job_name", &m->job_name));
  if (m->job_name.empty() || m->job_name == "." || m->job_name == ".." ||
      m->job_name.find('/') != std::string::npos) {
    return s.Bad("job_name",
                 "allowed: a non-empty name without '/' (a directory under output_path)");
  }
  return Status::Ok();
}

}  // namespace

std::string_view PackingModeName(PackingMode mode) {
  switch (mode) {
    case PackingMode::kNone:
      return "none";
    case PackingMode::kConcat:
      return "concat";
    case PackingMode::kIsolated:
      return "isolated";
  }
  return "?";
}

std::string_view FloatTypeName(FloatType t) {
  switch (t) {
    case FloatType::kFp32: return "fp32";
    case FloatType::kBf16: return "bf16";
    case FloatType::kFp16: return "fp16";
  }
  return "?";
}

FloatType DsConfig::ComputeType() const {
  return bf16 ? FloatType::kBf16 : fp16 ? FloatType::kFp16 : FloatType::kFp32;
}

std::string MonitorSection::Directory() const {
  return (std::filesystem::path(output_path) / job_name).string();
}

bool DsConfig::AutoSpEnabled() const {
  return deepcompile &&
         std::find(compile_passes.begin(), compile_passes.end(), "autosp") != compile_passes.end();
}

StatusOr<DsConfig> ParseDsConfig(const std::string& json_text, const std::string& source_name,
                                 const std::string& base_dir, bool on_cpu) {
  Json root = Json::parse(json_text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (root.is_discarded()) return ParseError("{}: not valid JSON", source_name);
  if (!root.is_object()) return ParseError("{}: the config must be a JSON object", source_name);
  DsConfig c;
  Section top(source_name, "", root,
              {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
               "steps_per_print", "optimizer", "scheduler", "gradient_clipping", "bf16", "fp16",
               "communication_data_type", "data_types",
               "zero_optimization", "compile", "sequence_parallel_size", "wall_clock_breakdown",
               "autosp", "model", "data", "tensorboard", "csv_monitor"},
              &c.warnings);
  AUTOSP_RETURN_IF_ERROR(top.Int("train_batch_size", 1, &c.train_batch_size));
  AUTOSP_RETURN_IF_ERROR(
      top.Int("train_micro_batch_size_per_gpu", 1, &c.train_micro_batch_size_per_gpu));
  AUTOSP_RETURN_IF_ERROR(top.Int("gradient_accumulation_steps", 1, &c.gradient_accumulation_steps));
  AUTOSP_RETURN_IF_ERROR(top.Int("steps_per_print", 1, &c.steps_per_print));
  AUTOSP_RETURN_IF_ERROR(top.Double("gradient_clipping", 0.0, &c.gradient_clipping));
  AUTOSP_RETURN_IF_ERROR(top.Int("sequence_parallel_size", 1, &c.sequence_parallel_size));
  bool breakdown = false;
  AUTOSP_RETURN_IF_ERROR(top.Bool("wall_clock_breakdown", &breakdown));
  AUTOSP_RETURN_IF_ERROR(ParseOptimizer(top, &c));
  AUTOSP_RETURN_IF_ERROR(ParseScheduler(top, &c));
  AUTOSP_RETURN_IF_ERROR(ParsePrecision(top, on_cpu, &c));

  AUTOSP_ASSIGN_OR_RETURN(
      Section zero, top.Object("zero_optimization",
                               {"stage", "reduce_bucket_size", "allgather_bucket_size",
                                "overlap_comm", "contiguous_gradients", "reduce_scatter",
                                "allgather_partitions", "round_robin_gradients"}));
  int64_t stage = 0;
  AUTOSP_RETURN_IF_ERROR(zero.Int("stage", 0, &stage));
  if (stage > 2) {
    return zero.Bad("stage", "ZeRO stage 3 is not supported with AutoSP; allowed: 0, 1 or 2");
  }
  c.zero_stage = static_cast<int>(stage);
  // DeepSpeed configs write bucket sizes as integers or as 5e8.
  double bucket = static_cast<double>(c.reduce_bucket_size);
  AUTOSP_RETURN_IF_ERROR(zero.Double("reduce_bucket_size", 1.0, &bucket));
  if (bucket != std::floor(bucket) || bucket > 1e15) {
    return zero.Bad("reduce_bucket_size", "allowed: a whole number of elements, 1 to 1e15");
  }
  c.reduce_bucket_size = static_cast<int64_t>(bucket);

  AUTOSP_ASSIGN_OR_RETURN(Section compile, top.Object("compile", {"deepcompile", "passes"}));
  AUTOSP_RETURN_IF_ERROR(compile.Bool("deepcompile", &c.deepcompile));
  if (compile.Has("passes")) {
    const Json& passes = compile.At("passes");
    if (!passes.is_array()) return compile.Bad("passes", "allowed: a list such as [\"autosp\"]");
    for (const Json& p : passes) {
      if (!p.is_string() || p.get<std::string>() != "autosp") {
        return compile.Bad("passes", fmt::format("unknown pass {}; allowed: \"autosp\"", p.dump()));
      }
      c.compile_passes.push_back(p.get<std::string>());
    }
  }

  AUTOSP_RETURN_IF_ERROR(ParseAutoSp(top, base_dir, &c));
  AUTOSP_RETURN_IF_ERROR(ParseMonitor(top, "tensorboard", &c.tensorboard));
  AUTOSP_RETURN_IF_ERROR(ParseMonitor(top, "csv_monitor", &c.csv_monitor));
  AUTOSP_ASSIGN_OR_RETURN(Section data, top.Object("data", {"path", "seq_len"}));
  AUTOSP_RETURN_IF_ERROR(data.String("path", &c.data.path));
  c.data.path = Resolve(base_dir, c.data.path);
  AUTOSP_RETURN_IF_ERROR(data.Int("seq_len", 2, &c.data.seq_len));

  if (top.Has("model")) {
    const Json& m = top.At("model");
    if (m.is_string()) {
      c.model_path = Resolve(base_dir, m.get<std::string>());
      std::error_code ec;
      if (std::filesystem::is_directory(c.model_path, ec)) {
        return top.Bad("model", fmt::format("\"{}\" is a folder: give its config.json for the "
                                            "architecture alone, or {{\"pretrained\": \"{}\"}} "
                                            "to start from its weights",
                                            m.get<std::string>(), m.get<std::string>()));
      }
      StatusOr<frontend::ModelConfig> model = frontend::LoadModelConfig(c.model_path);
      if (!model.ok()) return model.status().WithContext(source_name + ": \"model\"");
      c.model = std::move(model).value();
    } else if (m.is_object() && m.contains("pretrained")) {
      // {"pretrained": DIR}: an HF folder's config.json and weights. No HF
      // config has a "pretrained" key, so this cannot be an inline config.
      if (m.size() != 1 || !m["pretrained"].is_string() ||
          m["pretrained"].get<std::string>().empty()) {
        return top.Bad("model",
                       "{\"pretrained\": \"DIR\"} takes one key, the path of an HF "
                       "model folder");
      }
      c.pretrained = Resolve(base_dir, m["pretrained"].get<std::string>());
      c.model_path = (std::filesystem::path(c.pretrained) / "config.json").string();
      StatusOr<frontend::ModelConfig> model = frontend::LoadModelConfig(c.model_path);
      if (!model.ok()) return model.status().WithContext(source_name + ": \"model.pretrained\"");
      c.model = std::move(model).value();
    } else if (m.is_object()) {
      StatusOr<frontend::ModelConfig> model =
          frontend::ParseModelConfig(m.dump(), source_name + ": \"model\"");
      if (!model.ok()) return model.status();
      c.model = std::move(model).value();
    } else {
      return top.Bad("model",
                     "allowed: a path to an HF config.json, an inline HF config object, "
                     "or {\"pretrained\": \"DIR\"} (an HF model folder)");
    }
  }
  return c;
}

StatusOr<DsConfig> LoadDsConfig(const std::string& path, bool on_cpu) {
  AUTOSP_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(path, "config file", 64 << 20));
  return ParseDsConfig(text, path, std::filesystem::path(path).parent_path().string(),
                       on_cpu);
}

StatusOr<int64_t> ResolveDataParallel(const DsConfig& config, int64_t world_size) {
  const int64_t sp = config.sequence_parallel_size;
  if (world_size % sp != 0) {
    return InvalidArgument("\"sequence_parallel_size\" = {} does not divide the {} ranks of the "
                           "world; allowed: a divisor of {}",
                           sp, world_size, world_size);
  }
  if (sp > 1 && !config.AutoSpEnabled()) {
    return InvalidArgument("\"sequence_parallel_size\" = {} needs the AutoSP pass: set \"compile\": "
                           "{{\"deepcompile\": true, \"passes\": [\"autosp\"]}}",
                           sp);
  }
  return world_size / sp;
}

StatusOr<BatchPlan> ResolveBatch(const DsConfig& config, int64_t dp) {
  int64_t t = config.train_batch_size, m = config.train_micro_batch_size_per_gpu,
          g = config.gradient_accumulation_steps;
  auto not_divisible = [&](const char* by, int64_t by_value) {
    return InvalidArgument("train_batch_size ({}) is not divisible by {} ({}) x data-parallel size "
                           "({}) = {}",
                           t, by, by_value, dp, by_value * dp);
  };
  if (t > 0 && m > 0 && g > 0) {
    if (t != m * g * dp) {
      return InvalidArgument("train_batch_size ({}) must equal train_micro_batch_size_per_gpu ({}) "
                             "x gradient_accumulation_steps ({}) x data-parallel size ({}) = {}",
                             t, m, g, dp, m * g * dp);
    }
  } else if (t > 0 && m > 0) {
    if (t % (m * dp) != 0) return not_divisible("train_micro_batch_size_per_gpu", m);
    g = t / (m * dp);
  } else if (t > 0 && g > 0) {
    if (t % (g * dp) != 0) return not_divisible("gradient_accumulation_steps", g);
    m = t / (g * dp);
  } else if (m > 0) {
    g = std::max<int64_t>(g, 1);
    t = m * g * dp;
  } else if (t > 0) {
    g = 1;
    if (t % dp != 0) return not_divisible("gradient_accumulation_steps", 1);
    m = t / dp;
  } else {
    return InvalidArgument("set \"train_batch_size\" or \"train_micro_batch_size_per_gpu\"");
  }
  return BatchPlan{.train_batch_size = t, .micro_batch = m, .accumulation = g, .dp = dp};
}

}  // namespace autosp::train
