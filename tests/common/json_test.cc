// The one JSON escaper and the log lines built with it: every output parses as JSON (checked
// with simdjson, an independent parser) and reads back as the input.
#include "common/json.h"

#include <string>

#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace sasmint {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// ReadBack parses a JSON string literal and returns its value.
std::string ReadBack(const std::string& literal) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(literal);
  std::string_view value;
  const auto error = parser.parse(padded).get_string().get(value);
  EXPECT_EQ(error, simdjson::SUCCESS) << literal;
  return std::string(value);
}

TEST(JsonTest, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(JsonEscape("\n\r\t"), "\\n\\r\\t");
  EXPECT_EQ(JsonEscape(std::string("\x01\x1f", 2)), "\\u0001\\u001f");
  EXPECT_EQ(JsonEscape(std::string(1, '\0')), "\\u0000");
  EXPECT_EQ(JsonString("x"), "\"x\"");
  std::string out = "[";
  AppendJsonEscaped("\"", &out);
  EXPECT_EQ(out, "[\\\"");
}

TEST(JsonTest, EveryByteBelow0x80RoundTrips) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(ReadBack(JsonString(all)), all);
  // UTF-8 passes through unchanged.
  EXPECT_EQ(ReadBack(JsonString("gr\xc3\xbc\xc3\x9f")), "gr\xc3\xbc\xc3\x9f");
}

TEST(LogTest, LinesAreOneJsonObjectWithEscapedFields) {
  const std::string line = FormatLogLine(LogLevel::kWarning, "a \"quoted\"\nmessage",
                                         {{"key\"", "va\\lue"}, {"n", "1"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_THAT(line, MatchesRegex(R"(\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z",.*)"));
  simdjson::dom::parser parser;
  simdjson::padded_string padded(line);
  simdjson::dom::object obj;
  ASSERT_EQ(parser.parse(padded).get_object().get(obj), simdjson::SUCCESS) << line;
  std::string_view v;
  ASSERT_EQ(obj["level"].get_string().get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "warning");
  ASSERT_EQ(obj["msg"].get_string().get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "a \"quoted\"\nmessage");
  ASSERT_EQ(obj["key\""].get_string().get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "va\\lue");
  EXPECT_THAT(FormatLogLine(LogLevel::kError, "x", {}), HasSubstr("\"level\":\"error\""));
}

}  // namespace
}  // namespace sasmint
