// The flag parser: both forms, values that begin with '-', booleans, and every refusal.
#include "common/flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<Flags> Parse(std::vector<std::string> args) {
  return Flags::Parse(args, {"hub", "device", "ttl"}, {"json", "demo"});
}

TEST(FlagsTest, BothFormsAndPositionals) {
  ASSERT_OK_AND_ASSIGN(Flags f, Parse({"tok", "--hub", "h.net", "--device=d1", "--json", "x"}));
  EXPECT_EQ(f.Get("hub"), "h.net");
  EXPECT_EQ(f.Get("device"), "d1");
  EXPECT_EQ(f.Get("ttl"), std::nullopt);
  EXPECT_TRUE(f.Has("json"));
  EXPECT_TRUE(f.Has("hub"));
  EXPECT_FALSE(f.Has("demo"));
  EXPECT_FALSE(f.Has("ttl"));
  EXPECT_THAT(f.positional(), ElementsAre("tok", "x"));
}

TEST(FlagsTest, ValuesMayBeginWithADashOrBeEmptyOrHoldEquals) {
  ASSERT_OK_AND_ASSIGN(Flags f, Parse({"--device", "-dev", "--hub=", "--ttl=a=b"}));
  EXPECT_EQ(f.Get("device"), "-dev");
  EXPECT_EQ(f.Get("hub"), "");
  EXPECT_EQ(f.Get("ttl"), "a=b");
  // The value of a value flag is taken whatever it looks like, even another flag's name.
  ASSERT_OK_AND_ASSIGN(Flags g, Parse({"--device", "--json"}));
  EXPECT_EQ(g.Get("device"), "--json");
  EXPECT_FALSE(g.Has("json"));
}

TEST(FlagsTest, BooleansTakeTrueOrFalseInline) {
  ASSERT_OK_AND_ASSIGN(Flags t, Parse({"--json=true", "--demo=1"}));
  EXPECT_TRUE(t.Has("json"));
  EXPECT_TRUE(t.Has("demo"));
  ASSERT_OK_AND_ASSIGN(Flags f, Parse({"--json=false", "--demo=0"}));
  EXPECT_FALSE(f.Has("json"));
  EXPECT_FALSE(f.Has("demo"));
  EXPECT_THAT(Parse({"--json=yes"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("true or false")));
}

TEST(FlagsTest, DoubleDashEndsTheFlags) {
  ASSERT_OK_AND_ASSIGN(Flags f, Parse({"--json", "--", "--hub", "-x"}));
  EXPECT_TRUE(f.Has("json"));
  EXPECT_FALSE(f.Has("hub"));
  EXPECT_THAT(f.positional(), ElementsAre("--hub", "-x"));
  // A lone "-" (stdin) and "--" itself are not flags.
  ASSERT_OK_AND_ASSIGN(Flags g, Parse({"-", "-d"}));
  EXPECT_THAT(g.positional(), ElementsAre("-", "-d"));
}

TEST(FlagsTest, Refusals) {
  EXPECT_THAT(Parse({"--nope"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown flag --nope")));
  EXPECT_THAT(Parse({"--hub", "a", "--hub=b"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--hub given twice")));
  EXPECT_THAT(Parse({"--json", "--json=false"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--json given twice")));
  EXPECT_THAT(Parse({"--ttl"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--ttl needs a value")));
}

}  // namespace
}  // namespace sasmint
