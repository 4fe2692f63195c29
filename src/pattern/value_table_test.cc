#include "pattern/internal/value_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hikyaku::pattern::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<uint32_t> find_ids(const ValueTable& t, std::string_view key) {
  auto ids = t.find(key);
  return {ids.begin(), ids.end()};
}

TEST(ValueTableTest, FindsEveryKeyAndNothingElse) {
  ValueTable t;
  EXPECT_TRUE(t.empty());
  t.freeze();
  EXPECT_THAT(find_ids(t, "x"), IsEmpty());

  ValueTable big;
  for (uint32_t i = 0; i < 20000; ++i) {
    big.add("s" + std::to_string(i), i);
  }
  big.add("s7", 70000);  // a second id under one key keeps both, in order
  big.add("", 5);        // the empty key is a key like any other
  big.freeze();
  EXPECT_FALSE(big.empty());
  for (uint32_t i = 0; i < 20000; i += 7) {
    if (i == 7) {
      EXPECT_THAT(find_ids(big, "s7"), ElementsAre(7u, 70000u));
    } else {
      EXPECT_THAT(find_ids(big, "s" + std::to_string(i)), ElementsAre(i)) << i;
    }
  }
  EXPECT_THAT(find_ids(big, ""), ElementsAre(5u));
  EXPECT_THAT(find_ids(big, "s20000"), IsEmpty());
  EXPECT_THAT(find_ids(big, "s"), IsEmpty());
  EXPECT_THAT(find_ids(big, std::string("s1\0", 3)), IsEmpty());
  EXPECT_GT(big.memory(), 20000u * 24);
}

std::vector<uint32_t> affixes(const AffixTable& t, std::string_view value) {
  std::vector<uint32_t> ids;
  t.for_each_match(value, [&](uint32_t id) { ids.push_back(id); });
  return ids;
}

TEST(AffixTableTest, PrefixesAndSuffixesOfEveryLength) {
  AffixTable prefix(AffixTable::Side::kPrefix);
  AffixTable suffix(AffixTable::Side::kSuffix);
  const std::string word = "abcdefghijklmnopqrstuvwxyz";
  for (uint32_t n = 0; n <= word.size(); ++n) {
    prefix.add(word.substr(0, n), n);
    suffix.add(word.substr(word.size() - n), n);
  }
  prefix.add("abd", 100);
  prefix.freeze();
  suffix.freeze();
  EXPECT_THAT(affixes(prefix, "abcx"), ElementsAre(0u, 1u, 2u, 3u));  // shortest first
  EXPECT_THAT(affixes(prefix, "abd"), ElementsAre(0u, 1u, 2u, 100u));
  EXPECT_THAT(affixes(prefix, ""), ElementsAre(0u));
  EXPECT_THAT(affixes(suffix, "xyz"), ElementsAre(0u, 1u, 2u, 3u));
  EXPECT_THAT(affixes(suffix, "yz"), ElementsAre(0u, 1u, 2u));
  EXPECT_EQ(affixes(prefix, word).size(), word.size() + 1);
  EXPECT_TRUE(AffixTable(AffixTable::Side::kPrefix).empty());
}

}  // namespace
}  // namespace hikyaku::pattern::internal
