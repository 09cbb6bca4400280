#include "train/tokenize_files.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/file.h"

namespace autosp::train {
namespace {

using Json = nlohmann::json;

// About this much of a .jsonl file per unit of work.
constexpr size_t kUnitBytes = size_t{4} << 20;
// Input bytes queued or being tokenized at once, per worker.
constexpr size_t kBytesInFlightPerJob = 4 * kUnitBytes;

using Visit = std::function<Status(int64_t line, std::string_view text)>;

/// A piece of one input file: a whole text file, or whole lines of a .jsonl file.
struct Unit {
  size_t file = 0;
  std::shared_ptr<const std::string> text;
  size_t begin = 0;
  size_t end = 0;
  int64_t first_line = 0;  ///< .jsonl: the line number at `begin`; text file: 0
};

bool IsJsonl(const std::string& path) { return path.ends_with(".jsonl"); }

// The text of one .jsonl line; nullopt for a blank line.
StatusOr<std::optional<std::string>> JsonlText(std::string_view line, const std::string& text_key,
                                               const std::string& path, int64_t line_no) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
    return std::optional<std::string>();
  }
  Json j;
  try {
    j = Json::parse(line);
  } catch (const Json::exception& e) {
    std::string reason = e.what();
    if (size_t id_end = reason.find("] "); id_end != std::string::npos) {
      reason = reason.substr(id_end + 2);
    }
    return ParseError("{}:{}: invalid JSON: {}", path, line_no, reason);
  }
  if (!j.is_object()) {
    return InvalidArgument("{}:{}: a .jsonl line must be a JSON object, got {}", path, line_no,
                           j.type_name());
  }
  auto it = j.find(text_key);
  if (it == j.end()) {
    return InvalidArgument("{}:{}: no \"{}\" member (choose the member with --text-key)", path,
                           line_no, text_key);
  }
  if (!it->is_string()) {
    return InvalidArgument("{}:{}: \"{}\" is {}, not a string", path, line_no, text_key,
                           it->type_name());
  }
  return std::optional<std::string>(it->get<std::string>());
}

// Calls `visit` for each document of `unit`.
Status VisitUnit(const Unit& unit, const std::string& path, const std::string& text_key,
                 const Visit& visit) {
  const std::string_view text(*unit.text);
  if (!IsJsonl(path)) return visit(0, text.substr(unit.begin, unit.end - unit.begin));
  int64_t line_no = unit.first_line;
  for (size_t pos = unit.begin; pos < unit.end; ++line_no) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos || nl > unit.end) nl = unit.end;
    AUTOSP_ASSIGN_OR_RETURN(std::optional<std::string> doc,
                            JsonlText(text.substr(pos, nl - pos), text_key, path, line_no));
    if (doc) AUTOSP_RETURN_IF_ERROR(visit(line_no, *doc));
    pos = nl + 1;
  }
  return Status::Ok();
}

// Cuts a file into units: a .jsonl file at line ends about every kUnitBytes.
std::vector<Unit> SplitIntoUnits(size_t file, const std::string& path,
                                 std::shared_ptr<const std::string> text) {
  std::vector<Unit> units;
  if (!IsJsonl(path)) {
    units.push_back({file, text, 0, text->size(), 0});
    return units;
  }
  int64_t line = 1;
  for (size_t pos = 0; pos < text->size();) {
    size_t end = std::min(pos + kUnitBytes, text->size());
    if (end < text->size()) {
      const size_t nl = text->find('\n', end - 1);
      end = nl == std::string::npos ? text->size() : nl + 1;
    }
    units.push_back({file, text, pos, end, line});
    line += std::count(text->begin() + static_cast<std::ptrdiff_t>(pos),
                       text->begin() + static_cast<std::ptrdiff_t>(end), '\n');
    pos = end;
  }
  return units;
}

std::string Where(const std::string& path, int64_t line) {
  return line > 0 ? fmt::format("{}:{}", path, line) : path;
}

/// The tokens of one unit, documents relative to its start.
struct UnitResult {
  std::vector<int64_t> tokens;
  std::vector<int64_t> doc_starts;
  Status status;
};

}  // namespace

Status ForEachDocument(
    const std::vector<std::string>& paths, const std::string& text_key,
    const std::function<Status(const std::string&, int64_t, std::string_view)>& visit) {
  for (size_t f = 0; f < paths.size(); ++f) {
    AUTOSP_ASSIGN_OR_RETURN(std::string text, ReadRegularFile(paths[f], "input text file"));
    auto shared = std::make_shared<const std::string>(std::move(text));
    for (const Unit& unit : SplitIntoUnits(f, paths[f], shared)) {
      AUTOSP_RETURN_IF_ERROR(VisitUnit(
          unit, paths[f], text_key,
          [&](int64_t line, std::string_view doc) { return visit(paths[f], line, doc); }));
    }
  }
  return Status::Ok();
}

StatusOr<TokenData> TokenizeFiles(const tokenizer::Tokenizer& tokenizer,
                                  const std::vector<std::string>& paths,
                                  const TokenizeFilesOptions& options) {
  AUTOSP_CHECK(tokenizer.eos_id() >= 0, "TokenizeFiles needs a tokenizer with an EOS token");
  const int jobs = std::max(1, options.jobs);
  const auto start = std::chrono::steady_clock::now();

  // Shared between the reader (this thread) and the workers.
  std::mutex mu;
  std::condition_variable work_ready;  // a unit was queued, or reading ended
  std::condition_variable space_free;  // a unit finished
  std::deque<std::pair<size_t, Unit>> queue;
  std::deque<UnitResult> results;  // by unit index; a deque keeps references stable
  size_t bytes_in_flight = 0;
  size_t units_finished = 0;
  bool reading_done = false;
  std::atomic<bool> failed = false;
  std::atomic<int64_t> documents = 0;
  std::atomic<int64_t> tokens = 0;
  std::atomic<int64_t> files_done = 0;
  std::vector<std::atomic<int64_t>> units_left(paths.size());

  auto worker = [&] {
    while (true) {
      std::pair<size_t, Unit> item;
      UnitResult* result = nullptr;
      {
        std::unique_lock lock(mu);
        work_ready.wait(lock, [&] { return !queue.empty() || reading_done; });
        if (queue.empty()) return;
        item = std::move(queue.front());
        queue.pop_front();
        result = &results[item.first];
      }
      const Unit& unit = item.second;
      const std::string& path = paths[unit.file];
      if (!failed) {
        result->status = VisitUnit(
            unit, path, options.text_key, [&](int64_t line, std::string_view text) -> Status {
              if (text.empty()) return Status::Ok();  // as the byte tokenizer: no empty documents
              StatusOr<std::vector<int64_t>> ids = tokenizer.Encode(text);
              if (!ids.ok()) return ids.status().WithContext(Where(path, line));
              result->doc_starts.push_back(static_cast<int64_t>(result->tokens.size()));
              if (tokenizer.add_bos()) result->tokens.push_back(tokenizer.bos_id());
              result->tokens.insert(result->tokens.end(), ids->begin(), ids->end());
              result->tokens.push_back(tokenizer.eos_id());
              documents += 1;
              tokens += static_cast<int64_t>(ids->size()) + 1 + (tokenizer.add_bos() ? 1 : 0);
              return Status::Ok();
            });
        if (!result->status.ok()) failed = true;
      }
      if (--units_left[unit.file] == 0) files_done += 1;
      {
        std::lock_guard lock(mu);
        bytes_in_flight -= unit.end - unit.begin;
        ++units_finished;
      }
      space_free.notify_all();
    }
  };

  auto report = [&] {
    if (!options.on_progress) return;
    TokenizeProgress p;
    p.files_done = files_done;
    p.files_total = static_cast<int64_t>(paths.size());
    p.documents = documents;
    p.tokens = tokens;
    p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    options.on_progress(p);
  };
  auto last_report = std::chrono::steady_clock::now();
  auto maybe_report = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report >= std::chrono::seconds(1)) {
      last_report = now;
      report();
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < jobs; ++i) threads.emplace_back(worker);

  // Read the files in order and queue their units, keeping the bytes in
  // flight bounded (a unit larger than the bound goes alone).
  Status read_status;
  size_t units_queued = 0;
  const size_t max_in_flight = kBytesInFlightPerJob * static_cast<size_t>(jobs);
  for (size_t f = 0; f < paths.size() && !failed; ++f) {
    StatusOr<std::string> text = ReadRegularFile(paths[f], "input text file");
    if (!text.ok()) {
      read_status = text.status();
      break;
    }
    std::vector<Unit> units =
        SplitIntoUnits(f, paths[f], std::make_shared<const std::string>(std::move(*text)));
    units_left[f] = static_cast<int64_t>(units.size());
    if (units.empty()) files_done += 1;
    for (Unit& unit : units) {
      std::unique_lock lock(mu);
      const size_t bytes = unit.end - unit.begin;
      while (bytes_in_flight > 0 && bytes_in_flight + bytes > max_in_flight && !failed) {
        space_free.wait_for(lock, std::chrono::milliseconds(200));
        lock.unlock();
        maybe_report();
        lock.lock();
      }
      bytes_in_flight += bytes;
      results.emplace_back();
      queue.emplace_back(units_queued++, std::move(unit));
      lock.unlock();
      work_ready.notify_one();
    }
  }
  {
    std::unique_lock lock(mu);
    reading_done = true;
    work_ready.notify_all();
    while (units_finished < units_queued) {
      space_free.wait_for(lock, std::chrono::milliseconds(200));
      lock.unlock();
      maybe_report();
      lock.lock();
    }
  }
  for (std::thread& t : threads) t.join();
  AUTOSP_RETURN_IF_ERROR(read_status);
  for (const UnitResult& r : results) AUTOSP_RETURN_IF_ERROR(r.status);
  report();

  // Concatenate in input order.
  TokenData data;
  data.tokens.reserve(static_cast<size_t>(tokens.load()));
  for (UnitResult& r : results) {
    const auto offset = static_cast<int64_t>(data.tokens.size());
    for (int64_t s : r.doc_starts) data.doc_starts.push_back(offset + s);
    data.tokens.insert(data.tokens.end(), r.tokens.begin(), r.tokens.end());
    std::vector<int64_t>().swap(r.tokens);  // never two copies of all the tokens
  }
  for (int64_t t : data.tokens) data.max_token = std::max(data.max_token, t);
  return data;
}

}  // namespace autosp::train
