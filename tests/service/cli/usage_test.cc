// The synopsis exists once (service/cli/usage.cc). What `sasmint help` prints must be it, and
// the two places that quote it for readers, README.md's "Command line" block and the comment of
// service/cli/commands.h, must quote it exactly.
#include "service/cli/usage.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace sasmint::cli {
namespace {

std::string ReadSource(const std::string& relative) {
  const char* root = std::getenv("SASMINT_SOURCE_DIR");
  EXPECT_NE(root, nullptr) << "SASMINT_SOURCE_DIR is not set";
  std::ifstream in(std::string(root == nullptr ? "." : root) + "/" + relative);
  EXPECT_TRUE(in) << relative;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Quoted returns the lines of `text` from the one that equals the synopsis' first line up to
// `end` (exclusive), each with `prefix` removed.
std::string Quoted(const std::string& text, absl::string_view prefix, absl::string_view end) {
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  std::vector<std::string> out;
  bool inside = false;
  for (const std::string& raw : lines) {
    absl::string_view line = raw;
    if (!inside) {
      inside = absl::ConsumePrefix(&line, prefix) && line == "usage: sasmint <command> [flags]";
      if (inside) out.emplace_back(line);
      continue;
    }
    if (line == end || !absl::ConsumePrefix(&line, prefix)) break;
    out.emplace_back(line);
  }
  return absl::StrJoin(out, "\n") + "\n";
}

TEST(UsageTest, HelpPrintsTheSynopsis) {
  const char* bin = std::getenv("SASMINT_BIN");
  ASSERT_NE(bin, nullptr);
  for (const char* spelling : {"help", "--help", "-h"}) {
    absl::StatusOr<testing::ProcessResult> r = testing::RunProcess({bin, spelling});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->exit_code, 0);
    EXPECT_EQ(r->out, Usage()) << spelling;
  }
  // Without a command the synopsis goes to stderr, with the usage exit code.
  absl::StatusOr<testing::ProcessResult> bare = testing::RunProcess({bin});
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->exit_code, 2);
  EXPECT_EQ(bare->err, Usage());
}

TEST(UsageTest, ReadmeQuotesTheSynopsis) {
  EXPECT_EQ(Quoted(ReadSource("README.md"), "", "```"), Usage());
}

TEST(UsageTest, CommandsHeaderQuotesTheSynopsis) {
  // "//   line" for each line; blank lines of the synopsis would be "//".
  std::string quoted = Quoted(ReadSource("service/cli/commands.h"), "//   ", "//");
  EXPECT_EQ(quoted, Usage());
}

TEST(UsageTest, EverySubcommandIsInTheSynopsis) {
  for (const char* command : {"serve", "token", "derive-key", "mint", "verify"}) {
    EXPECT_TRUE(absl::StrContains(Usage(), std::string("  ") + command + " ")) << command;
  }
}

}  // namespace
}  // namespace sasmint::cli
