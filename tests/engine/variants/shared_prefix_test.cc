// GroupBySharedPrefix (variants/shared_prefix.h): which windows continue from one prefix.
#include "variants/shared_prefix.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace evo2::variants {
namespace {

std::vector<PrefixGroup> Group(const std::vector<std::string>& w, int64_t min_prefix,
                               std::vector<size_t>& alone) {
  std::vector<const std::string*> ptrs;
  for (const auto& s : w) ptrs.push_back(&s);
  return GroupBySharedPrefix(ptrs, min_prefix, alone);
}

TEST(GroupBySharedPrefixTest, RunsOfWindowsWithACommonStartAreGroupsTheRestAlone) {
  const std::vector<std::string> w = {
      "ACGTACGTAAAA",  // 0 ┐ share "ACGTACGT" (8)
      "TTTTTTTTTTTT",  // 1   alone
      "ACGTACGTCCCC",  // 2 ┘
      "ACGTACGTAAAC",  // 3 ┘ (with 0: 11 in common, the group's prefix stays 8)
      "GGGGCCCCAAAA",  // 4 ┐ share "GGGGCC" (6)
      "GGGGCCTTAAAA",  // 5 ┘
      "acgtacgtAAAA",  // 6   lower case: compared as written, so alone
  };
  std::vector<size_t> alone;
  const auto groups = Group(w, 5, alone);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].members, (std::vector<size_t>{0, 3, 2}));  // sorted order
  EXPECT_EQ(groups[0].prefix_tokens, 8);
  EXPECT_EQ(groups[1].members, (std::vector<size_t>{4, 5}));
  EXPECT_EQ(groups[1].prefix_tokens, 6);
  EXPECT_EQ(alone, (std::vector<size_t>{1, 6}));
}

TEST(GroupBySharedPrefixTest, AShortCommonPrefixLeavesWindowsAlone) {
  const std::vector<std::string> w = {"GGGGCCCCAAAA", "GGGGCCTTAAAA"};
  std::vector<size_t> alone;
  EXPECT_TRUE(Group(w, 7, alone).empty());
  EXPECT_EQ(alone, (std::vector<size_t>{0, 1}));
}

// A window that is a prefix of another (different lengths at a contig end) keeps one token
// of its own to extend with.
TEST(GroupBySharedPrefixTest, EveryMemberKeepsATokenOfItsOwn) {
  const std::vector<std::string> w = {"ACGTACGTAC", "ACGTACGTACGG"};
  std::vector<size_t> alone;
  const auto groups = Group(w, 2, alone);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].prefix_tokens, 9);
  EXPECT_TRUE(alone.empty());
}

}  // namespace
}  // namespace evo2::variants
