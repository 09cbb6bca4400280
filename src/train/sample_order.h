// Which packed sample each step trains on: the validation split, and a seeded
// shuffle of the training samples per epoch.
//
// Split: with `autosp.validation.fraction` f of N samples, the LAST
// round(f * N) samples of the packed stream (at least 1) are held out for
// validation and samples 0 .. N_train - 1 train. The split depends on nothing
// but N and f — not on the seed — so a run resumed with another seed never
// trains on what the first run validated on. (Sample i's last label is
// sample i+1's first input token, so the one token at the boundary is both
// the last training label and the first validation input; no sample is in
// both.) With `autosp.validation.data_path` all N samples train.
//
// Order: the trainer consumes the training samples through one global
// position p = 0, 1, 2, ... (trainer.h says which position each rank's
// micro-batch takes). Position p is sample perm_e[p mod N_train] of epoch
// e = p / N_train, where perm_e is a permutation of 0 .. N_train - 1 that
// depends only on (seed, e): the same on every rank, mesh, ZeRO stage and
// after a resume, which restarts at the saved position. A step that crosses
// an epoch end takes the rest of epoch e and the start of epoch e + 1.
// Without shuffling perm_e is the identity (the order before shuffling existed).
//
// Note [Shuffle algorithm] — fixed here, independent of the C++ library (unlike
// std::shuffle and std::uniform_int_distribution, whose algorithms are
// implementation-defined):
//   Mix(z):   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//             z = (z ^ (z >> 27)) * 0x94D049BB133111EB;  return z ^ (z >> 31)
//             (SplitMix64's finaliser)
//   state  = Mix(Mix(seed) ^ epoch)
//   Next() = Mix(state += 0x9E3779B97F4A7C15)            (SplitMix64)
//   Below(n) (uniform in [0, n)): r = Next() until r >= 2^64 mod n; r mod n
//   Fisher–Yates: perm = 0 .. n-1; for i = n-1 down to 1: swap(perm[i], perm[Below(i + 1)])
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace autosp::train {

/// The permutation of 0 .. n-1 for (seed, epoch), by Note [Shuffle algorithm].
std::vector<int64_t> ShufflePermutation(uint64_t seed, int64_t epoch, int64_t n);

/// How the packed samples are split.
struct SampleSplit {
  int64_t train = 0;  ///< samples 0 .. train-1 train
  int64_t validation_first =
      0;  ///< held-out samples: validation_first .. validation_first+validation-1
  int64_t validation = 0;
};

/// The split of `num_samples` with a held-out `fraction` (0: none). The
/// result holds at least one training and, for a fraction > 0, at least one
/// validation sample; REQUIRES: num_samples >= 2 when fraction > 0, fraction < 1.
SampleSplit SplitSamples(int64_t num_samples, double fraction);

/// Maps global training positions to sample indices (see the note above).
class SampleOrder {
 public:
  /// REQUIRES: num_samples >= 1.
  SampleOrder(int64_t num_samples, bool shuffle, uint64_t seed);

  int64_t num_samples() const { return num_samples_; }
  /// The sample at global position `position` (>= 0).
  int64_t At(int64_t position);
  /// The epoch and position within it of a global position.
  int64_t EpochOf(int64_t position) const { return position / num_samples_; }
  int64_t InEpoch(int64_t position) const { return position % num_samples_; }

 private:
  int64_t num_samples_;
  bool shuffle_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> perm_;  ///< cached_epoch_'s permutation
};

/// Optimizer steps that complete `epochs` passes over `samples` training
/// samples at `batch` samples a step (ceil; the last step may run into the
/// next epoch); at least 1.
int64_t EpochSteps(double epochs, int64_t samples, int64_t batch);

/// The data order a checkpoint recorded (train_samples 0: written before
/// shuffling, in packed order).
struct SavedDataOrder {
  int64_t position = 0;
  int64_t train_samples = 0;
  bool shuffle = false;
  uint64_t seed = 0;
};

/// The global position a resumed run continues at: the saved one when the
/// checkpoint's samples per epoch are this run's; otherwise the same epoch
/// and place in it (clipped to the epoch). Appends a warning for each
/// difference that changes the samples from the uninterrupted run's (other
/// samples per epoch, shuffle or seed; an older checkpoint resumed shuffled).
int64_t ResumePosition(const SavedDataOrder& saved, int64_t train_samples, bool shuffle,
                       uint64_t seed, std::vector<std::string>* warnings);

}  // namespace autosp::train
