// hcl inner filter by FFT convolution (what vortex does, docs/spec/model.md §11): the
// filter h_c[t] = Σ_n R[c,n]·exp(λ[c,n]·t) is materialised for t < S, then
// y_c = irfft(rfft(h_c) · rfft(a_c))[:S] + D_c·a_c with a transform size N ≥ 2S−1 (no wrap).
// Kept as the alternative measured in docs/adr/0001-hcl-on-cpu.md; the modal recurrence
// (hyena_long_filter.h) is the default.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "cpu/hyena_long_filter.h"
#include "ops/thread_pool.h"

namespace evo2::cpu {

// FFTW single-precision plans by transform size, created once (planning is not thread-safe in
// FFTW; executing a plan on other arrays is).
class FftPlanCache {
 public:
  FftPlanCache();
  ~FftPlanCache();
  FftPlanCache(const FftPlanCache&) = delete;
  FftPlanCache& operator=(const FftPlanCache&) = delete;

  struct Plans {
    int64_t n = 0;
    void* forward = nullptr;  // fftwf_plan r2c of size n
    void* inverse = nullptr;  // fftwf_plan c2r of size n
  };
  // Plans for the smallest size ≥ min_size of the form 2^a·3^b·5^c (fast in FFTW).
  const Plans& Get(int64_t min_size);

 private:
  std::mutex mu_;
  std::map<int64_t, std::unique_ptr<Plans>> plans_;
};

// a, y [S, H].
void HyenaLongFilterFft(const float* a, int64_t S, int64_t H, const ModalFilter& filter,
                        FftPlanCache& plans, float* y, ops::ThreadPool& pool);

}  // namespace evo2::cpu
