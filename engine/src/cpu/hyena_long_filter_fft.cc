#include "cpu/hyena_long_filter_fft.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

namespace evo2::cpu {

namespace {

int64_t NextFastSize(int64_t n) {
  for (int64_t m = std::max<int64_t>(n, 1);; ++m) {
    int64_t r = m;
    for (int64_t p : {2, 3, 5}) {
      while (r % p == 0) r /= p;
    }
    if (r == 1) return m;
  }
}

struct FftwFloatBuffer {
  explicit FftwFloatBuffer(size_t n) : p(static_cast<float*>(fftwf_malloc(n * sizeof(float)))) {}
  ~FftwFloatBuffer() { fftwf_free(p); }
  float* p;
};
struct FftwComplexBuffer {
  explicit FftwComplexBuffer(size_t n)
      : p(static_cast<fftwf_complex*>(fftwf_malloc(n * sizeof(fftwf_complex)))) {}
  ~FftwComplexBuffer() { fftwf_free(p); }
  fftwf_complex* p;
};

}  // namespace

FftPlanCache::FftPlanCache() = default;

FftPlanCache::~FftPlanCache() {
  for (auto& [n, p] : plans_) {
    fftwf_destroy_plan(static_cast<fftwf_plan>(p->forward));
    fftwf_destroy_plan(static_cast<fftwf_plan>(p->inverse));
  }
}

const FftPlanCache::Plans& FftPlanCache::Get(int64_t min_size) {
  const int64_t n = NextFastSize(min_size);
  std::lock_guard lock(mu_);
  auto it = plans_.find(n);
  if (it != plans_.end()) return *it->second;
  auto plans = std::make_unique<Plans>();
  plans->n = n;
  // Plan on scratch arrays with the alignment fftwf_malloc gives; executions use other arrays
  // from fftwf_malloc (same alignment), as the new-array execute functions require.
  FftwFloatBuffer real(static_cast<size_t>(n));
  FftwComplexBuffer cplx(static_cast<size_t>(n / 2 + 1));
  plans->forward = fftwf_plan_dft_r2c_1d(static_cast<int>(n), real.p, cplx.p, FFTW_ESTIMATE);
  plans->inverse = fftwf_plan_dft_c2r_1d(static_cast<int>(n), cplx.p, real.p, FFTW_ESTIMATE);
  return *plans_.emplace(n, std::move(plans)).first->second;
}

void HyenaLongFilterFft(const float* a, int64_t S, int64_t H, const ModalFilter& f,
                        FftPlanCache& cache, float* y, ops::ThreadPool& pool) {
  const FftPlanCache::Plans& plans = cache.Get(2 * S - 1);
  const int64_t N = plans.n;
  const int64_t bins = N / 2 + 1;
  const int64_t M = f.modes;
  pool.ParallelFor(H, 1, [&](int64_t c0, int64_t c1) {
    FftwFloatBuffer hbuf(static_cast<size_t>(N)), abuf(static_cast<size_t>(N));
    FftwComplexBuffer hf(static_cast<size_t>(bins)), af(static_cast<size_t>(bins));
    for (int64_t c = c0; c < c1; ++c) {
      // Filter in fp32 like vortex: exp(λ·t) of the fp32 product, summed over modes.
      for (int64_t t = 0; t < S; ++t) {
        float acc = 0;
        for (int64_t n = 0; n < M; ++n) {
          acc += f.residue_f32[c * M + n] * std::exp(f.log_pole[c * M + n] * static_cast<float>(t));
        }
        hbuf.p[t] = acc;
        abuf.p[t] = a[t * H + c];
      }
      std::fill(hbuf.p + S, hbuf.p + N, 0.0f);
      std::fill(abuf.p + S, abuf.p + N, 0.0f);
      fftwf_execute_dft_r2c(static_cast<fftwf_plan>(plans.forward), hbuf.p, hf.p);
      fftwf_execute_dft_r2c(static_cast<fftwf_plan>(plans.forward), abuf.p, af.p);
      const float scale = 1.0f / static_cast<float>(N);
      for (int64_t k = 0; k < bins; ++k) {
        const float re = hf.p[k][0] * af.p[k][0] - hf.p[k][1] * af.p[k][1];
        const float im = hf.p[k][0] * af.p[k][1] + hf.p[k][1] * af.p[k][0];
        af.p[k][0] = re * scale;
        af.p[k][1] = im * scale;
      }
      fftwf_execute_dft_c2r(static_cast<fftwf_plan>(plans.inverse), af.p, abuf.p);
      for (int64_t t = 0; t < S; ++t) {
        y[t * H + c] = abuf.p[t] + f.skip[c] * a[t * H + c];
      }
    }
  });
}

}  // namespace evo2::cpu
