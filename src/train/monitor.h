// DeepSpeed's monitors, rank 0 only: `tensorboard` (an event file,
// tensorboard_writer.h) and `csv_monitor`, each under output_path/job_name.
//
// csv_monitor, as DeepSpeed's: one CSV file per scalar, named after its tag
// with '/' replaced by '_' (train/loss -> train_loss.csv), with the header
// "step,<last part of the tag>" and one "step,value" row per write; values
// are written in the shortest form that reads back as the same double. A
// resumed run appends to the files (the header only goes into a new or empty
// file).
//
// Scalars: train/loss, train/lr, train/grad_norm, train/tokens_per_s every
// steps_per_print steps; eval/loss, eval/ppl at every evaluation. The files
// are flushed at every write.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/status.h"
#include "train/ds_config.h"
#include "train/tensorboard_writer.h"

namespace autosp::train {

/// One scalar of one step.
struct Scalar {
  std::string tag;  ///< "train/loss"
  double value = 0;
};

/// The CSV monitor (one file per tag).
class CsvMonitor {
 public:
  /// Creates `dir`.
  static StatusOr<std::unique_ptr<CsvMonitor>> Open(const std::string& dir);
  /// Appends one row per scalar.
  Status Write(int64_t step, const std::vector<Scalar>& scalars);
  /// The file of a tag (train/loss -> DIR/train_loss.csv).
  std::string PathOf(const std::string& tag) const;

 private:
  std::string dir_;
};

/// The monitors a config enables.
class Monitors {
 public:
  /// Opens what `config` enables; errors name the config key and directory.
  static StatusOr<std::unique_ptr<Monitors>> Open(const DsConfig& config);
  Status Write(int64_t step, const std::vector<Scalar>& scalars);
  /// One log line per monitor ("tensorboard: DIR/events.out...").
  std::vector<std::string> Describe() const;

 private:
  std::unique_ptr<EventFileWriter> tensorboard_;
  std::unique_ptr<CsvMonitor> csv_;
};

}  // namespace autosp::train
