// status_matchers.h: gMock matchers for absl::Status / absl::StatusOr (Debian's Abseil ships none).
//
//   EXPECT_THAT(s, IsOk());
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("base64")));
//   ASSERT_OK_AND_ASSIGN(auto v, MakeValue());
#ifndef SASMINT_TESTS_TESTING_STATUS_MATCHERS_H_
#define SASMINT_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sasmint::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()), result_listener);
}

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::sasmint::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::sasmint::testing::IsOk())
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                 \
  auto SASMINT_CONCAT(statusor_, __LINE__) = (expr);    \
  ASSERT_TRUE(SASMINT_CONCAT(statusor_, __LINE__).ok()) \
      << SASMINT_CONCAT(statusor_, __LINE__).status();  \
  lhs = std::move(SASMINT_CONCAT(statusor_, __LINE__)).value()

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_STATUS_MATCHERS_H_
