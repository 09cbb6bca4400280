// Step 1: config -> engine (mesh, batch plan), data, compile, optional resume.
// Step 2: the loop: micro-batches -> Step, OptimizerStep, log, save.
// Step 3: final checkpoint and summary.
#include "train/trainer.h"

#include <ATen/ATen.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "runtime/comm/communicator.h"
#include "support/units.h"
#include "train/snapshot.h"
#include "train/data.h"
#include "train/engine.h"
#include "train/evaluation.h"
#include "train/metrics_log.h"
#include "train/monitor.h"
#include "train/sample_order.h"

namespace autosp::train {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

StatusOr<std::vector<int64_t>> GatherPeaks(Engine& engine) {
  at::Tensor mine = at::tensor({engine.peak_bytes()}, at::kLong);
  AUTOSP_ASSIGN_OR_RETURN(at::Tensor all, engine.mesh().world->TryAllGather(mine));
  std::vector<int64_t> out;
  for (int64_t i = 0; i < all.size(0); ++i) out.push_back(all[i].item<int64_t>());
  return out;
}

}  // namespace

StatusOr<TrainReport> RunTraining(const DsConfig& config, const TrainOptions& options,
                                  runtime::CommWorld* world, std::FILE* out) {
  // Step 1.
  if (!config.model.has_value()) {
    return InvalidArgument("no model: set \"model\" in the config (a path to an HF config.json or "
                           "an inline config) or pass --model");
  }
  if (config.model->family == frontend::ModelFamily::kGpt2 &&
      config.data.seq_len > config.model->max_position_embeddings) {
    return InvalidArgument(
        "\"data.seq_len\" = {} is longer than the model's {} learned positions "
        "(n_positions); shorten the sequence or use a model with more positions",
        config.data.seq_len, config.model->max_position_embeddings);
  }
  if (config.model->family == frontend::ModelFamily::kLlama &&
      !config.model->rope_scaling.has_value() &&
      config.data.seq_len > config.model->max_position_embeddings) {
    return InvalidArgument(
        "\"data.seq_len\" = {} is longer than the model's max_position_embeddings = {} and the "
        "model config sets no \"rope_scaling\"; shorten the sequence, or add rope_scaling "
        "(linear or llama3) to the model config",
        config.data.seq_len, config.model->max_position_embeddings);
  }
  if (!options.save_dir.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(options.save_dir, ec) &&
        !std::filesystem::is_directory(options.save_dir, ec)) {
      return InvalidArgument("--save {}: is a file, not a directory", options.save_dir);
    }
  }
  AUTOSP_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                          Engine::Initialize(config, Model::FromConfig(*config.model), world));
  const BatchPlan& plan = engine->batch_plan();
  const bool printer = engine->rank() == 0 && out != nullptr;
  const bool tty = printer && ::isatty(::fileno(out));
  auto say = [&](const std::string& line) {
    if (!printer) return;
    std::fprintf(out, "%s\n", line.c_str());
    std::fflush(out);
  };
  for (const std::string& w : config.warnings) say("warning: " + w);
  for (const std::string& w : config.model->warnings) say("warning: " + w);

  TokenData tokens;
  if (config.data.path.empty()) {
    tokens = EmbeddedCorpusTokens();
  } else {
    AUTOSP_ASSIGN_OR_RETURN(tokens, LoadTokenFile(config.data.path));
  }
  if (tokens.max_token >= config.model->vocab_size) {
    return InvalidArgument("data: token id {} is outside the model's vocabulary (vocab_size {})",
                           tokens.max_token, config.model->vocab_size);
  }
  const int64_t corpus_tokens = static_cast<int64_t>(tokens.tokens.size());
  AUTOSP_ASSIGN_OR_RETURN(
      PackedDataset data,
      PackedDataset::Create(std::move(tokens), config.data.seq_len, config.autosp.packing,
                            std::max<int64_t>(config.model->pad_token_id, 0)));
  const ValidationSection& validation = config.autosp.validation;
  std::optional<PackedDataset> validation_file;
  if (!validation.data_path.empty()) {
    StatusOr<TokenData> held = LoadTokenFile(validation.data_path);
    if (!held.ok()) return held.status().WithContext("\"autosp.validation.data_path\"");
    if (held->max_token >= config.model->vocab_size) {
      return InvalidArgument(
          "\"autosp.validation.data_path\": {}: token id {} is outside the model's vocabulary "
          "(vocab_size {})",
          validation.data_path, held->max_token, config.model->vocab_size);
    }
    StatusOr<PackedDataset> packed =
        PackedDataset::Create(std::move(held).value(), config.data.seq_len, config.autosp.packing,
                              std::max<int64_t>(config.model->pad_token_id, 0));
    if (!packed.ok()) {
      return packed.status().WithContext("\"autosp.validation.data_path\": " +
                                         validation.data_path);
    }
    validation_file.emplace(std::move(packed).value());
  }
  if (validation.fraction > 0 && data.num_samples() < 2) {
    return InvalidArgument(
        "\"autosp.validation.fraction\" = {}: the data has {} sample of {} "
        "tokens, nothing to hold out; use more data or a data_path",
        validation.fraction, data.num_samples(), config.data.seq_len);
  }
  const SampleSplit split = SplitSamples(data.num_samples(), validation.fraction);
  SampleOrder order(split.train, config.autosp.shuffle, config.autosp.seed);
  say(fmt::format("model: {}", frontend::ModelConfigSummary(*config.model)));
  say(fmt::format("mesh: {} ranks = dp {} x sp {} | ZeRO stage {} | {} | batch {} = micro {} x "
                  "accum {} x dp {} | seq {}",
                  plan.dp * config.sequence_parallel_size, plan.dp, config.sequence_parallel_size,
                  config.zero_stage, FloatTypeName(config.ComputeType()), plan.train_batch_size, plan.micro_batch, plan.accumulation,
                  plan.dp, config.data.seq_len));
  say(fmt::format("data: {} ({} tokens, {} samples of {}, packing {})",
                  config.data.path.empty() ? "embedded corpus" : config.data.path, corpus_tokens,
                  data.num_samples(), config.data.seq_len, PackingModeName(data.mode())));
  if (validation.fraction > 0) {
    say(fmt::format("validation: the last {} samples held out ({:g}), {} train{}", split.validation,
                    validation.fraction, split.train,
                    config.autosp.shuffle ? ", shuffled every epoch" : ""));
  } else if (validation_file) {
    say(fmt::format("validation: {} ({} samples){}", validation.data_path,
                    validation_file->num_samples(),
                    config.autosp.shuffle ? "; training samples shuffled every epoch" : ""));
  }

  const Clock::time_point compile_start = Clock::now();
  AUTOSP_RETURN_IF_ERROR(engine->Compile());
  say(fmt::format("compiled in {:.2f} s ({} parameters)", Seconds(compile_start, Clock::now()),
                  engine->num_parameters()));
  const TrainingStateBytes held = engine->state_bytes();
  say(fmt::format("training state per rank: {} = weights {} + gradients {} + fp32 master {} + "
                  "Adam moments {}{}",
                  FormatBytes(static_cast<double>(held.total())),
                  FormatBytes(static_cast<double>(held.weights)),
                  FormatBytes(static_cast<double>(held.gradients)),
                  FormatBytes(static_cast<double>(held.master)),
                  FormatBytes(static_cast<double>(held.moments)),
                  config.zero_stage > 0
                      ? fmt::format(" (sharded over all {} ranks)", plan.dp * config.sequence_parallel_size)
                      : std::string()));

  // Repair what killed runs left in the save directory before anyone reads it.
  if (!options.save_dir.empty()) {
    Status recovered = Status::Ok();
    if (engine->rank() == 0) {
      StatusOr<std::vector<std::string>> lines = RecoverSaveDirectory(options.save_dir);
      if (lines.ok()) {
        for (const std::string& line : *lines) say(fmt::format("{}: {}", options.save_dir, line));
      } else {
        recovered = lines.status();
      }
    }
    at::Tensor failed = at::tensor({recovered.ok() ? int64_t{0} : int64_t{1}}, at::kLong);
    AUTOSP_RETURN_IF_ERROR(engine->mesh().world->TryAllReduce(failed, runtime::ReduceOp::kSum));
    if (!recovered.ok()) return recovered;
    if (failed.item<int64_t>() != 0) {
      return Status(StatusCode::kUnavailable, "rank 0 could not repair the save directory");
    }
  }
  if (!config.pretrained.empty() && options.resume_from.empty()) {
    // Every rank reads the folder; they agree on the outcome so that none
    // goes on to a collective the others will never join.
    StatusOr<PretrainedLoad> load = engine->LoadPretrained(config.pretrained);
    at::Tensor failed = at::tensor({load.ok() ? int64_t{0} : int64_t{1}}, at::kLong);
    AUTOSP_RETURN_IF_ERROR(engine->mesh().world->TryAllReduce(failed, runtime::ReduceOp::kSum));
    if (!load.ok()) return load.status().WithContext("model.pretrained");
    if (failed.item<int64_t>() != 0) {
      return Status(StatusCode::kUnavailable, "another rank could not load model.pretrained");
    }
    say(fmt::format("weights: {} ({} tensors in {} file{}, {} stored as {}; fp32 master){}",
                    load->path, load->tensors, load->files, load->files == 1 ? "" : "s",
                    FormatBytes(static_cast<double>(load->bytes)), load->dtypes,
                    load->ignored.empty() ? std::string()
                                          : fmt::format(" | ignored {} HF buffer(s) / tied head",
                                                        load->ignored.size())));
  } else if (!config.pretrained.empty()) {
    say("weights: from the checkpoint (resuming); model.pretrained is not read");
  }
  TrainerState state;
  if (!options.resume_from.empty()) {
    AUTOSP_ASSIGN_OR_RETURN(LoadedSnapshot ckpt, LoadSnapshot(options.resume_from));
    AUTOSP_RETURN_IF_ERROR(RestoreSnapshot(*engine, ckpt));
    state = ckpt.state;
    say(fmt::format("resumed from {} at step {} ({})", ckpt.path, state.step,
                    ckpt.verified ? "checksums verified"
                                  : "no manifest: written before checksums, not verified"));
    std::vector<std::string> warnings;
    state.data_position =
        ResumePosition({ckpt.state.data_position, ckpt.state.train_samples, ckpt.state.shuffle,
                        ckpt.state.shuffle_seed},
                       split.train, config.autosp.shuffle, config.autosp.seed, &warnings);
    for (const std::string& line : warnings) say("warning: " + line);
  }
  state.train_samples = split.train;
  state.shuffle = config.autosp.shuffle;
  state.shuffle_seed = config.autosp.seed;
  const std::string metrics_path =
      !options.metrics_file.empty()  ? options.metrics_file
      : !config.autosp.metrics_file.empty() ? config.autosp.metrics_file
      : !options.save_dir.empty()           ? options.save_dir + "/metrics.jsonl"
                                            : std::string();
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<Monitors> monitors;
  if (engine->rank() == 0) {
    AUTOSP_ASSIGN_OR_RETURN(metrics, MetricsLog::Open(metrics_path));
    AUTOSP_ASSIGN_OR_RETURN(monitors, Monitors::Open(config));
    for (const std::string& line : monitors->Describe()) say(line);
  }
  std::unique_ptr<Evaluator> evaluator;
  if (validation.enabled()) {
    AUTOSP_ASSIGN_OR_RETURN(evaluator, Evaluator::Create(*engine));
  }

  // Step 2.
  TrainReport report;
  report.first_step = state.step;
  report.state_bytes = held;
  report.train_samples = split.train;
  report.validation_first = split.validation_first;
  report.validation_samples = validation_file ? validation_file->num_samples() : split.validation;
  const int64_t total = options.steps > 0 ? options.steps
                        : config.autosp.epochs > 0
                            ? EpochSteps(config.autosp.epochs, split.train, plan.train_batch_size)
                            : config.autosp.train_steps;
  const Clock::time_point start = Clock::now();
  auto evaluate = [&]() -> Status {
    const Clock::time_point eval_start = Clock::now();
    AUTOSP_ASSIGN_OR_RETURN(
        const EvalResult e,
        validation_file ? evaluator->Run(*validation_file, 0, validation_file->num_samples(),
                                         validation.max_batches)
                        : evaluator->Run(data, split.validation_first, split.validation,
                                         validation.max_batches));
    EvalMetrics m{.step = state.step,
                  .loss = e.loss,
                  .perplexity = e.perplexity,
                  .tokens = e.tokens,
                  .samples = e.samples,
                  .elapsed_s = Seconds(start, Clock::now())};
    report.evals.push_back({state.step, e.loss, e.perplexity, e.tokens});
    if (metrics) metrics->Write(m);
    if (monitors) {
      AUTOSP_RETURN_IF_ERROR(
          monitors->Write(state.step, {{"eval/loss", e.loss}, {"eval/ppl", e.perplexity}}));
    }
    if (tty) std::fprintf(out, "\r\033[K");
    say(FormatEvalLine(m) + fmt::format(" | {:.2f} s", Seconds(eval_start, Clock::now())));
    return Status::Ok();
  };
  const int64_t tokens_per_step = plan.train_batch_size * config.data.seq_len;
  Clock::time_point window_start = start;
  int64_t window_steps = 0;
  bool save_pending = false;  // a save fell on a step that was skipped as not finite
  while (state.step < total) {
    for (int64_t i = 0; options.record_samples && i < plan.train_batch_size; ++i) {
      report.samples.push_back(order.At(state.data_position + i));
    }
    for (int64_t a = 0; a < plan.accumulation; ++a) {
      const int64_t first = state.data_position + a * plan.micro_batch * plan.dp +
                            engine->dp_index() * plan.micro_batch;
      std::vector<int64_t> samples;
      for (int64_t i = 0; i < plan.micro_batch; ++i) samples.push_back(order.At(first + i));
      SampleBatch batch = GatherSamples(data, samples);
      std::optional<at::Tensor> segments;
      if (batch.segment_ids.defined()) segments = batch.segment_ids;
      AUTOSP_ASSIGN_OR_RETURN(AutoSpInputs inputs, engine->PrepareAutoSpInputs(
                                                       batch.input_ids, batch.labels,
                                                       batch.position_ids, std::nullopt, segments));
      AUTOSP_RETURN_IF_ERROR(engine->Step(inputs).status());
    }
    AUTOSP_ASSIGN_OR_RETURN(OptimizerStepResult r, engine->OptimizerStep());
    if (r.skipped && r.not_finite) {
      say(fmt::format(
          "step {}: not finite: {}; update skipped ({} in a row; the run stops at {}, "
          "autosp.max_nonfinite_steps)",
          r.step, r.nonfinite_what, r.nonfinite_in_a_row, config.autosp.max_nonfinite_steps));
    } else if (r.skipped) {
      say(fmt::format("step {}: fp16 gradients overflowed, update skipped; loss scale {:g} -> {:g}",
                      r.step, r.loss_scale, r.next_loss_scale));
    }
    report.skipped_steps += r.skipped ? 1 : 0;
    report.loss_scales.push_back(r.loss_scale);
    state.step = r.step;
    state.data_position += plan.train_batch_size;
    report.losses.push_back(r.loss);
    ++window_steps;
    if (state.step % config.steps_per_print == 0 || state.step == total) {
      const Clock::time_point now = Clock::now();
      StepMetrics m;
      m.step = state.step;
      m.loss = r.loss;
      m.lr = r.lr;
      m.grad_norm = r.grad_norm;
      m.tokens_per_s = static_cast<double>(tokens_per_step * window_steps) / Seconds(window_start, now);
      m.elapsed_s = Seconds(start, now);
      AUTOSP_ASSIGN_OR_RETURN(m.peak_bytes, GatherPeaks(*engine));
      if (metrics) metrics->Write(m);
      if (monitors) {
        AUTOSP_RETURN_IF_ERROR(monitors->Write(m.step, {{"train/loss", m.loss},
                                                        {"train/lr", m.lr},
                                                        {"train/grad_norm", m.grad_norm},
                                                        {"train/tokens_per_s", m.tokens_per_s}}));
      }
      if (tty) std::fprintf(out, "\r\033[K");
      say(FormatStepLine(m, total));
      window_start = now;
      window_steps = 0;
    }
    if (tty) {
      std::fprintf(out, "\r\033[K%s", FormatProgressBar(state.step, total, r.loss).c_str());
      std::fflush(out);
    }
    if (evaluator && ((validation.interval > 0 && state.step % validation.interval == 0) ||
                      state.step == total)) {
      const Clock::time_point eval_start = Clock::now();
      AUTOSP_RETURN_IF_ERROR(evaluate());
      window_start += Clock::now() - eval_start;  // tokens/s counts training time only
    }
    save_pending =
        save_pending ||
        (!options.save_dir.empty() &&
         ((config.autosp.save_interval > 0 && state.step % config.autosp.save_interval == 0) ||
          state.step == total));
    if (save_pending && r.not_finite) {
      // Never checkpoint a state a non-finite step just passed through; the
      // next finite step saves instead.
      say(fmt::format("step {}: checkpoint deferred to the next finite step", state.step));
    } else if (save_pending) {
      SnapshotSaveOptions save;
      save.crash_after_weights = options.crash_in_save_at_step == state.step;
      save.keep_last_n = config.autosp.keep_last_n;
      AUTOSP_ASSIGN_OR_RETURN(report.last_checkpoint,
                              SaveSnapshot(*engine, state, options.save_dir, save));
      save_pending = false;
    }
  }
  if (tty) std::fprintf(out, "\r\033[K");

  // Step 3.
  report.steps = state.step;
  report.seconds = Seconds(start, Clock::now());
  const int64_t run_steps = state.step - report.first_step;
  report.tokens_per_s =
      report.seconds > 0 ? static_cast<double>(tokens_per_step * run_steps) / report.seconds : 0;
  AUTOSP_ASSIGN_OR_RETURN(report.peak_bytes, GatherPeaks(*engine));
  if (!report.losses.empty()) {
    std::string peaks;
    for (int64_t b : report.peak_bytes) peaks.append(" ").append(FormatBytes(static_cast<double>(b)));
    say(fmt::format("summary: {} steps in {:.1f} s ({:.2f} steps/s, {:.0f} tok/s) | loss {:.4f} -> "
                    "{:.4f} | peak per rank{}",
                    run_steps, report.seconds, run_steps / std::max(report.seconds, 1e-9),
                    report.tokens_per_s, report.losses.front(), report.losses.back(), peaks));
  } else {
    say(fmt::format("summary: nothing to do, already at step {} of {}", state.step, total));
  }
  if (!report.last_checkpoint.empty()) say("checkpoint: " + report.last_checkpoint);
  if (!metrics_path.empty()) say("metrics: " + metrics_path);
  return report;
}

}  // namespace autosp::train
