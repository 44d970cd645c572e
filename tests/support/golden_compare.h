// Comparing engine outputs with golden .npy files: one definition for every golden test.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace evo2::testing {

// Max |got - want| in double; +inf when the sizes differ or any value is NaN/inf, so a
// non-finite output can never pass a tolerance.
double MaxAbsDiff(const std::vector<float>& got, const std::vector<float>& want);

// Reads a floating .npy as fp32 values; records a test failure naming the file (and returns
// {}) when it cannot be read.
std::vector<float> ReadNpyFloats(const std::filesystem::path& path);

// Reads an integer .npy (golden token ids) as int32 ids; failure as above.
std::vector<int32_t> ReadNpyTokens(const std::filesystem::path& path);

}  // namespace evo2::testing
