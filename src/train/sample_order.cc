#include "train/sample_order.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "support/status.h"

namespace autosp::train {
namespace {

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// SplitMix64 with the draw below n of Note [Shuffle algorithm].
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t Next() { return Mix(state_ += 0x9E3779B97F4A7C15ULL); }
  /// Uniform in [0, n): rejecting the 2^64 mod n smallest values leaves a
  /// multiple of n equally likely values.
  uint64_t Below(uint64_t n) {
    const uint64_t reject_below = (0 - n) % n;  // 2^64 mod n
    uint64_t r = Next();
    while (r < reject_below) r = Next();
    return r % n;
  }

 private:
  uint64_t state_;
};

}  // namespace

std::vector<int64_t> ShufflePermutation(uint64_t seed, int64_t epoch, int64_t n) {
  std::vector<int64_t> perm(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  SplitMix64 rng(Mix(Mix(seed) ^ static_cast<uint64_t>(epoch)));
  for (int64_t i = n - 1; i >= 1; --i) {
    const uint64_t j = rng.Below(static_cast<uint64_t>(i) + 1);
    std::swap(perm[static_cast<size_t>(i)], perm[j]);
  }
  return perm;
}

SampleSplit SplitSamples(int64_t num_samples, double fraction) {
  SampleSplit s;
  s.train = num_samples;
  if (fraction <= 0) return s;
  AUTOSP_CHECK(num_samples >= 2 && fraction < 1, "cannot hold out {} of {} samples", fraction,
               num_samples);
  const double held = std::round(fraction * static_cast<double>(num_samples));
  s.validation = std::clamp<int64_t>(static_cast<int64_t>(held), 1, num_samples - 1);
  s.train = num_samples - s.validation;
  s.validation_first = s.train;
  return s;
}

SampleOrder::SampleOrder(int64_t num_samples, bool shuffle, uint64_t seed)
    : num_samples_(num_samples), shuffle_(shuffle), seed_(seed) {
  AUTOSP_CHECK(num_samples >= 1, "SampleOrder over {} samples", num_samples);
}

int64_t SampleOrder::At(int64_t position) {
  AUTOSP_CHECK(position >= 0, "negative data position {}", position);
  if (!shuffle_) return position % num_samples_;
  const int64_t epoch = position / num_samples_;
  if (epoch != cached_epoch_) {
    perm_ = ShufflePermutation(seed_, epoch, num_samples_);
    cached_epoch_ = epoch;
  }
  return perm_[static_cast<size_t>(position % num_samples_)];
}

int64_t EpochSteps(double epochs, int64_t samples, int64_t batch) {
  const double steps =
      std::ceil(epochs * static_cast<double>(samples) / static_cast<double>(batch));
  return std::max<int64_t>(1, static_cast<int64_t>(std::min(steps, 9e15)));
}

int64_t ResumePosition(const SavedDataOrder& saved, int64_t train_samples, bool shuffle,
                       uint64_t seed, std::vector<std::string>* warnings) {
  if (saved.train_samples == 0) {
    if (shuffle) {
      warnings->push_back(fmt::format(
          "the checkpoint was written before shuffling (its samples ran in packed order); it "
          "continues at position {} of a shuffled order (autosp.shuffle false keeps the old one)",
          saved.position));
    }
    return saved.position;
  }
  int64_t position = saved.position;
  if (saved.train_samples != train_samples) {
    const int64_t epoch = saved.position / saved.train_samples;
    const int64_t in_epoch = std::min(saved.position % saved.train_samples, train_samples);
    position = epoch * train_samples + in_epoch;
    warnings->push_back(fmt::format(
        "the checkpoint trained on {} samples per epoch, this run has {} (other data or "
        "validation split): continuing at epoch {}, sample {} of it",
        saved.train_samples, train_samples, epoch, in_epoch));
  }
  if (saved.shuffle != shuffle || (shuffle && saved.seed != seed)) {
    warnings->push_back(fmt::format(
        "the checkpoint's data order was shuffle {} with seed {}, this run's is shuffle {} with "
        "seed {}: the samples from here on differ from the uninterrupted run's",
        saved.shuffle, saved.seed, shuffle, seed));
  }
  return position;
}

}  // namespace autosp::train
