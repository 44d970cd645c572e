// EXPECT that `text` contains `part` (gmock's HasSubstr without linking gmock).
#pragma once

#include <string>

#include "gtest/gtest.h"

#define EVO2_EXPECT_CONTAINS(text, part)                                  \
  EXPECT_NE(std::string(text).find(std::string(part)), std::string::npos) \
      << "expected \"" << std::string(part) << "\" in: " << std::string(text)
