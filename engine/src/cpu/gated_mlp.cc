#include "cpu/gated_mlp.h"

#include <cmath>

#include "ops/linear.h"

namespace evo2::cpu {

void GatedMlp(const float* z, int64_t rows, const MlpWeights& w, GateActivation act, float* out,
              MlpWorkspace& workspace, ops::ThreadPool& pool) {
  const int64_t H = w.hidden, I = w.inner;
  workspace.u.resize(static_cast<size_t>(rows * 2 * I));
  float* u = workspace.u.data();  // [rows, 2I]: [l1·z | l2·z]
  if (!w.w12_fp8.empty()) {
    ops::Fp8Linear(z, rows, H, w.w12_fp8, nullptr, u, 2 * I, false, workspace.fp8);
  } else {
    ops::Linear(z, rows, H, H, w.w12.data(), 2 * I, nullptr, u, 2 * I);
  }
  pool.ParallelFor(rows, 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* g = u + r * 2 * I;  // gated branch, then the linear branch at g + I
      if (act == GateActivation::kGeluErf) {
        for (int64_t i = 0; i < I; ++i) {
          const double x = g[i];
          g[i] = static_cast<float>(0.5 * x * (1.0 + std::erf(x * 0.70710678118654752440)));
        }
      }
      for (int64_t i = 0; i < I; ++i) g[i] *= g[I + i];
    }
  });
  if (!w.w3_fp8.empty()) {
    ops::Fp8Linear(u, rows, 2 * I, w.w3_fp8, nullptr, out, H, false, workspace.fp8);
  } else {
    ops::Linear(u, rows, I, 2 * I, w.w3.data(), H, nullptr, out, H);
  }
}

}  // namespace evo2::cpu
