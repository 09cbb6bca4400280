#include "train/metrics_log.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/units.h"

namespace autosp::train {
namespace {

std::string Rate(double r) {
  if (r >= 1e6) return fmt::format("{:.2f}M", r / 1e6);
  if (r >= 1e3) return fmt::format("{:.1f}K", r / 1e3);
  return fmt::format("{:.0f}", r);
}

}  // namespace

std::string FormatStepLine(const StepMetrics& m, int64_t total_steps) {
  std::string peaks;
  for (int64_t b : m.peak_bytes) peaks.append(" ").append(FormatBytes(static_cast<double>(b)));
  return fmt::format("step {}/{} | loss {:.4f} | lr {:.2e} | grad norm {:.3f} | {} tok/s | peak{}",
                     m.step, total_steps, m.loss, m.lr, m.grad_norm, Rate(m.tokens_per_s), peaks);
}

std::string FormatEvalLine(const EvalMetrics& m) {
  return fmt::format("eval at step {} | loss {:.4f} | ppl {:.2f} | {} samples, {} tokens", m.step,
                     m.loss, m.perplexity, m.samples, m.tokens);
}

std::string FormatProgressBar(int64_t step, int64_t total, double loss, int width) {
  const int64_t filled = total > 0 ? std::min<int64_t>(width, step * width / total) : width;
  std::string bar = "[";
  for (int64_t i = 0; i < width; ++i) bar.push_back(i < filled ? '#' : '.');
  bar.push_back(']');
  return bar + fmt::format(" {}/{} loss {:.4f}", step, total, loss);
}

StatusOr<std::unique_ptr<MetricsLog>> MetricsLog::Open(const std::string& path) {
  auto log = std::make_unique<MetricsLog>();
  if (path.empty()) return log;
  const std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  log->out_.open(path, std::ios::app);
  if (!log->out_) return NotFound("cannot open metrics file {} for writing", path);
  log->enabled_ = true;
  return log;
}

void MetricsLog::Write(const StepMetrics& m) {
  if (!enabled_) return;
  nlohmann::json j = {{"step", m.step},           {"loss", m.loss},
                      {"lr", m.lr},               {"grad_norm", m.grad_norm},
                      {"tokens_per_s", m.tokens_per_s}, {"elapsed_s", m.elapsed_s},
                      {"peak_bytes", m.peak_bytes}};
  out_ << j.dump() << "\n";
  out_.flush();
}

void MetricsLog::Write(const EvalMetrics& m) {
  if (!enabled_) return;
  nlohmann::json j = {
      {"step", m.step},          {"eval_loss", m.loss},       {"eval_ppl", m.perplexity},
      {"eval_tokens", m.tokens}, {"eval_samples", m.samples}, {"elapsed_s", m.elapsed_s}};
  out_ << j.dump() << "\n";
  out_.flush();
}

}  // namespace autosp::train
