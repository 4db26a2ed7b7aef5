#include "tests/testing/vector_file.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace sasmint::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

TEST(VectorFileTest, ParsesBlocksSourcesAndComments) {
  constexpr absl::string_view kText =
      "# header comment\n"
      "\n"
      "# Source: first\n"
      "A = 1\n"
      "B = x=y=\n"
      "\n"
      "\n"
      "C =\n"
      "# a comment inside a block keeps the block open\n"
      "D =  spaced value  \r\n"
      "# Source: second\n"
      "\n"
      "E = 5\n";
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ParseVectorText(kText, "t.txt"));
  ASSERT_THAT(blocks, SizeIs(3));
  EXPECT_EQ(blocks[0].source, "first");
  EXPECT_EQ(blocks[0].Location(), "t.txt:4");
  EXPECT_THAT(blocks[0].fields, ElementsAre(Pair("A", "1"), Pair("B", "x=y=")));
  EXPECT_EQ(blocks[1].source, "first");
  EXPECT_EQ(blocks[1].line, 8);
  EXPECT_THAT(blocks[1].fields, ElementsAre(Pair("C", ""), Pair("D", "spaced value")));
  EXPECT_EQ(blocks[2].source, "second");
  ASSERT_OK_AND_ASSIGN(int64_t e, blocks[2].GetInt("E"));
  EXPECT_EQ(e, 5);
}

TEST(VectorFileTest, EmptyTextHasNoBlocks) {
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ParseVectorText("# only\n\n", "t.txt"));
  EXPECT_THAT(blocks, IsEmpty());
}

TEST(VectorFileTest, ErrorsNameFileAndLine) {
  EXPECT_THAT(ParseVectorText("A = 1\nno equals here\n", "f.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f.txt:2:")));
  EXPECT_THAT(ParseVectorText("\n = 1\n", "f.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f.txt:2: empty field name")));
  EXPECT_THAT(
      ParseVectorText("A = 1\nA = 2\n", "f.txt"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f.txt:2: field 'A' repeats")));
  EXPECT_THAT(ParseVectorText("A B = 1\n", "f.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f.txt:1:")));
  // The same name in two blocks is fine.
  EXPECT_OK(ParseVectorText("A = 1\n\nA = 2\n", "f.txt"));
}

TEST(VectorFileTest, Accessors) {
  ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks,
                       ParseVectorText("Hex = 00ff41\nBad = 0g\nOdd = abc\nN = x\n", "v.txt"));
  ASSERT_THAT(blocks, SizeIs(1));
  const VectorBlock& b = blocks[0];
  ASSERT_OK_AND_ASSIGN(std::string hex, b.GetBytes("Hex"));
  EXPECT_EQ(hex, std::string("\x00\xff"
                             "A",
                             3));
  EXPECT_THAT(b.GetBytes("Bad"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("v.txt:1")));
  EXPECT_THAT(b.GetBytes("Odd"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Odd")));
  EXPECT_THAT(b.GetInt("N"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'N'")));
  EXPECT_THAT(b.Get("Missing"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("v.txt:1")));
  EXPECT_EQ(b.GetOr("Missing", "dflt"), "dflt");
  EXPECT_OK(b.ExpectFields({"Hex", "Bad"}, {"Odd", "N"}));
  EXPECT_THAT(b.ExpectFields({"Hex", "Nope"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'Nope'")));
  EXPECT_THAT(b.ExpectFields({"Hex", "Bad", "Odd"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unexpected field 'N'")));
}

TEST(VectorFileTest, HelpersForTests) {
  VectorBlock b;
  b.line = 42;
  EXPECT_EQ(BlockTestName(b, "string-to-sign"), "L42_stringtosign");
  EXPECT_EQ(BlockTestName(b), "L42");
  EXPECT_EQ(UnescapeNewlines("a\\nb\\n"), "a\nb\n");
  EXPECT_EQ(UnescapeNewlines("no escapes"), "no escapes");
}

TEST(VectorFileTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadVectorFile(TestDataPath("no_such_file.txt")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no_such_file.txt")));
}

TEST(VectorFileTest, EveryTestDataFileParses) {
  for (const char* name : {"sas_tokens.txt", "sha256_nist.txt", "hmac_rfc4231.txt"}) {
    SCOPED_TRACE(name);
    ASSERT_OK_AND_ASSIGN(std::vector<VectorBlock> blocks, ReadVectorFile(TestDataPath(name)));
    EXPECT_THAT(blocks, Not(IsEmpty()));
    for (const VectorBlock& b : blocks) EXPECT_THAT(b.source, Not(IsEmpty())) << b.Location();
  }
}

}  // namespace
}  // namespace sasmint::testing
