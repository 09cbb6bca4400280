#include "train/monitor.h"

#include <filesystem>
#include <fstream>

namespace autosp::train {
namespace {

template <typename... Args>
Status IoError(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnavailable, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace

StatusOr<std::unique_ptr<CsvMonitor>> CsvMonitor::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("csv_monitor: cannot create directory {}: {}", dir, ec.message());
  auto m = std::unique_ptr<CsvMonitor>(new CsvMonitor());
  m->dir_ = dir;
  return m;
}

std::string CsvMonitor::PathOf(const std::string& tag) const {
  std::string name = tag;
  for (char& c : name) {
    if (c == '/' || c == ' ') c = '_';
  }
  return (std::filesystem::path(dir_) / (name + ".csv")).string();
}

Status CsvMonitor::Write(int64_t step, const std::vector<Scalar>& scalars) {
  for (const Scalar& s : scalars) {
    const std::string path = PathOf(s.tag);
    std::error_code ec;
    const bool fresh =
        !std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0;
    std::ofstream out(path, std::ios::app);
    if (fresh) out << "step," << s.tag.substr(s.tag.rfind('/') + 1) << "\n";
    out << step << "," << fmt::format("{}", s.value) << "\n";
    out.flush();
    if (!out) return IoError("csv_monitor: cannot write {}", path);
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Monitors>> Monitors::Open(const DsConfig& config) {
  auto m = std::unique_ptr<Monitors>(new Monitors());
  if (config.tensorboard.enabled) {
    StatusOr<std::unique_ptr<EventFileWriter>> tb =
        EventFileWriter::Open(config.tensorboard.Directory());
    if (!tb.ok()) return tb.status().WithContext("\"tensorboard\"");
    m->tensorboard_ = std::move(tb).value();
  }
  if (config.csv_monitor.enabled) {
    StatusOr<std::unique_ptr<CsvMonitor>> csv = CsvMonitor::Open(config.csv_monitor.Directory());
    if (!csv.ok()) return csv.status().WithContext("\"csv_monitor\"");
    m->csv_ = std::move(csv).value();
  }
  return m;
}

Status Monitors::Write(int64_t step, const std::vector<Scalar>& scalars) {
  if (tensorboard_) {
    for (const Scalar& s : scalars) {
      AUTOSP_RETURN_IF_ERROR(tensorboard_->AddScalar(s.tag, s.value, step));
    }
    AUTOSP_RETURN_IF_ERROR(tensorboard_->Flush());
  }
  if (csv_) AUTOSP_RETURN_IF_ERROR(csv_->Write(step, scalars));
  return Status::Ok();
}

std::vector<std::string> Monitors::Describe() const {
  std::vector<std::string> lines;
  if (tensorboard_) lines.push_back("tensorboard: " + tensorboard_->path());
  if (csv_) lines.push_back("csv_monitor: " + csv_->PathOf("train/loss") + ", ...");
  return lines;
}

}  // namespace autosp::train
