#include "bench/load/identity_list.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace sasmint::bench {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kKeys[] =
    R"("authentication":{"type":"sas","symmetricKey":{"primaryKey":"+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6rw=","secondaryKey":null}})";

std::string Line(const std::string& fields) { return "{" + fields + "," + kKeys + "}\n"; }

TEST(IdentityListTest, DevicesModulesAndDisabledIdentities) {
  std::string crlf = Line(R"("id":"dev1","status":"enabled")");
  crlf.insert(crlf.size() - 1, "\r");
  const std::string text = "\xEF\xBB\xBF" + crlf + "\n" + Line(R"("id":"dev1","moduleId":"m1")") +
                           Line(R"("id":"off","status":"disabled")") +
                           Line(R"("id":"-dash","moduleId":null,"etag":"x","status":null)") +
                           "   \n";
  auto ids = ParseIdentityList(text, "devices.json", /*include_disabled=*/false);
  ASSERT_THAT(ids, IsOk());
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[0].device_id, "dev1");
  EXPECT_EQ((*ids)[0].module_id, "");
  EXPECT_EQ((*ids)[1].device_id, "dev1");
  EXPECT_EQ((*ids)[1].module_id, "m1");
  EXPECT_EQ((*ids)[2].device_id, "-dash");

  auto all = ParseIdentityList(text, "devices.json", /*include_disabled=*/true);
  ASSERT_THAT(all, IsOk());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[2].device_id, "off");
}

TEST(IdentityListTest, ErrorsNameFileAndLine) {
  EXPECT_THAT(ParseIdentityList(Line(R"("id":"a")") + "{\"id\": \n", "f.json", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f.json:2: malformed JSON")));
  EXPECT_THAT(ParseIdentityList(Line(R"("deviceId":"a")"), "f.json", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f.json:1: missing id")));
  EXPECT_THAT(ParseIdentityList("[1]\n", "f.json", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseIdentityList(Line(R"("id":"a","moduleId":7)"), "f.json", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("moduleId must be")));
  EXPECT_THAT(ParseIdentityList("", "f.json", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no identities")));
  EXPECT_THAT(ParseIdentityList(Line(R"("id":"a","status":"disabled")"), "f.json", false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--include-disabled")));
}

TEST(IdentityListTest, LoadsFilesAndReportsMissingOnes) {
  const std::string dir = testing::MakeTempDir();
  testing::WriteFile(dir + "/d.json", Line(R"("id":"x")") + Line(R"("id":"y")"));
  auto ids = LoadIdentityList(dir + "/d.json", false);
  ASSERT_THAT(ids, IsOk());
  EXPECT_EQ(ids->size(), 2u);
  EXPECT_THAT(LoadIdentityList(dir + "/none.json", false),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cannot open")));
}

}  // namespace
}  // namespace sasmint::bench
