// Device and precision names: parsed once at the flag boundary, printed back the same way.
#include "evo2/device.h"

#include <string>

#include "gtest/gtest.h"

namespace evo2 {
namespace {

TEST(DeviceTest, NamesRoundTrip) {
  for (Device d : {Device::kCpu, Device::kCuda}) {
    auto parsed = ParseDevice(DeviceName(d));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, d);
  }
  for (Precision p : {Precision::kDefault, Precision::kFp32, Precision::kBf16}) {
    auto parsed = ParsePrecision(PrecisionName(p));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, p);
  }
  // An unset flag (empty text) means the backend's default precision.
  EXPECT_EQ(*ParsePrecision(""), Precision::kDefault);
}

TEST(DeviceTest, UnknownNamesListTheValidOnes) {
  auto device = ParseDevice("CUDA");  // names are case-sensitive, as the flags always were
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(device.status().message().find("'CUDA'"), std::string::npos);
  EXPECT_NE(device.status().message().find("valid: cpu, cuda"), std::string::npos);
  auto precision = ParsePrecision("fp16");
  ASSERT_FALSE(precision.ok());
  EXPECT_EQ(precision.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(precision.status().message().find("valid: fp32, bf16"), std::string::npos);
}

}  // namespace
}  // namespace evo2
