#include "support/golden_compare.h"

#include <algorithm>
#include <cmath>

#include "evo2/npy.h"
#include "gtest/gtest.h"

namespace evo2::testing {

double MaxAbsDiff(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) return INFINITY;
    worst = std::max(worst, std::abs(double(got[i]) - double(want[i])));
  }
  return worst;
}

std::vector<float> ReadNpyFloats(const std::filesystem::path& path) {
  auto t = ReadNpy(path);
  EXPECT_TRUE(t.ok()) << path << ": " << t.status();
  if (!t.ok()) return {};
  auto v = t->ToFloat32();
  EXPECT_TRUE(v.ok()) << path << ": " << v.status();
  return v.ok() ? *v : std::vector<float>{};
}

std::vector<int32_t> ReadNpyTokens(const std::filesystem::path& path) {
  auto t = ReadNpy(path);
  EXPECT_TRUE(t.ok()) << path << ": " << t.status();
  if (!t.ok()) return {};
  auto v = t->ToInt64();
  EXPECT_TRUE(v.ok()) << path << ": " << v.status();
  if (!v.ok()) return {};
  return std::vector<int32_t>(v->begin(), v->end());
}

}  // namespace evo2::testing
