#include "service/audit/audit_log.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/audit/audit_chain.h"
#include "service/audit/audit_record.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<std::string> Lines(const std::string& path) {
  std::vector<std::string> lines = absl::StrSplit(ReadAll(path), '\n', absl::SkipEmpty());
  return lines;
}

ChainReport Verify(const std::vector<std::string>& lines) {
  std::istringstream in(absl::StrJoin(lines, "\n") + "\n");
  return VerifyAuditChain(in);
}

AuditRecord Record(absl::string_view event, int n) {
  return AuditRecord{absl::FromUnixSeconds(1700000000 + n),
                     absl::StrCat("\"event\":\"", event, "\",\"n\":", n), false};
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = testing::MakeTempDir() + "/audit.jsonl"; }

  // WriteBoot opens the log, submits `n` records and closes it (start, n records, stop).
  void WriteBoot(int n) {
    AuditOptions options;
    options.path = path_;
    auto log = AuditLog::Open(options, &Clock::Real());
    ASSERT_THAT(log, IsOk());
    EXPECT_TRUE((*log)->Accepting());
    for (int i = 0; i < n; ++i) EXPECT_TRUE((*log)->Submit(Record("call", i)));
  }

  std::string path_;
};

TEST_F(AuditLogTest, LinesAreSequencedAndChainedAcrossBoots) {
  WriteBoot(5);
  WriteBoot(3);
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 7u + 5u);
  EXPECT_THAT(lines[0], HasSubstr("\"seq\":1,"));
  EXPECT_THAT(lines[0], HasSubstr("\"event\":\"start\""));
  EXPECT_THAT(lines[0], HasSubstr(absl::StrCat("\"prev\":\"", kGenesisHash, "\"")));
  EXPECT_THAT(lines[3], HasSubstr("\"seq\":4,"));
  EXPECT_THAT(lines[3], HasSubstr("\"n\":2"));
  EXPECT_THAT(lines[6], HasSubstr("\"event\":\"stop\""));
  EXPECT_THAT(lines[7], HasSubstr("\"seq\":1,"));  // the second boot continues the chain
  EXPECT_THAT(lines[7], HasSubstr(absl::StrCat("\"prev\":\"", LineHash(lines[6]), "\"")));
  EXPECT_THAT(lines[0], StartsWith("{\"time\":\"2"));
  const ChainReport report = Verify(lines);
  EXPECT_TRUE(report.intact) << report.reason;
  EXPECT_EQ(report.lines, 12u);
  EXPECT_EQ(report.boots, 2u);
  EXPECT_EQ(report.last_hash, std::string(LineHash(lines.back())));
}

TEST_F(AuditLogTest, VerifyNamesTheEditedDeletedOrMovedLine) {
  WriteBoot(6);
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 8u);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> edited = lines;
    const size_t at = edited[i].find("\"seq\":");
    edited[i].replace(at, 6, "\"seq\": ");  // any change to any byte
    const ChainReport report = Verify(edited);
    EXPECT_FALSE(report.intact);
    EXPECT_EQ(report.bad_line, i + 1);
    EXPECT_THAT(report.reason, HasSubstr("edited"));
  }
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    std::vector<std::string> deleted = lines;
    deleted.erase(deleted.begin() + static_cast<long>(i));
    const ChainReport report = Verify(deleted);
    EXPECT_FALSE(report.intact);
    EXPECT_EQ(report.bad_line, i + 1) << "deleted line " << i + 1;
  }
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    std::vector<std::string> swapped = lines;
    std::swap(swapped[i], swapped[i + 1]);
    const ChainReport report = Verify(swapped);
    EXPECT_FALSE(report.intact);
    EXPECT_EQ(report.bad_line, i + 1) << "swapped lines " << i + 1 << " and " << i + 2;
  }
  // A whole line copied in again (a replay) breaks the chain where it stands.
  std::vector<std::string> replayed = lines;
  replayed.insert(replayed.begin() + 4, lines[2]);
  EXPECT_EQ(Verify(replayed).bad_line, 5u);
  // A re-sealed edit (new hash computed) still breaks the next line's prev.
  std::vector<std::string> resealed = lines;
  std::string body = resealed[3].substr(0, resealed[3].find(",\"prev\":"));
  body.replace(body.find("\"n\":"), 5, "\"n\":9");
  const std::string prev(LineHash(lines[2]));
  SealLine(prev, &body);
  resealed[3] = body;
  const ChainReport report = Verify(resealed);
  EXPECT_EQ(report.bad_line, 5u);
  EXPECT_THAT(report.reason, HasSubstr("prev"));
}

TEST_F(AuditLogTest, ATornLastLineIsStartedAfterAndReported) {
  WriteBoot(2);
  {
    std::ofstream out(path_, std::ios::app);
    out << "{\"time\":\"2026";  // a write cut short by a crash
  }
  WriteBoot(1);
  const std::vector<std::string> lines = Lines(path_);
  ASSERT_EQ(lines.size(), 4u + 1u + 3u);
  EXPECT_EQ(lines[4], "{\"time\":\"2026");
  const ChainReport report = Verify(lines);
  EXPECT_FALSE(report.intact);
  EXPECT_EQ(report.bad_line, 5u);
  // The new boot chains to the last whole line.
  EXPECT_THAT(lines[5], HasSubstr(absl::StrCat("\"prev\":\"", LineHash(lines[3]), "\"")));
}

TEST_F(AuditLogTest, AnUnwritableSinkRefusesRecordsAndCountsThem) {
  AuditOptions options;
  options.path = "/dev/full";  // opens, and every write fails (ENOSPC)
  options.required = true;
  auto log = AuditLog::Open(options, &Clock::Real());
  ASSERT_THAT(log, IsOk());
  EXPECT_FALSE((*log)->Accepting());
  EXPECT_FALSE((*log)->Submit(Record("call", 1)));
  EXPECT_FALSE((*log)->Submit(Record("call", 2)));
  const AuditLog::Stats stats = (*log)->stats();
  EXPECT_EQ(stats.refused, 2u);
  EXPECT_EQ(stats.written, 0u);
  EXPECT_FALSE(stats.sink_up);

  options.path = testing::MakeTempDir() + "/missing/dir/audit.jsonl";
  options.required = false;
  auto missing = AuditLog::Open(options, &Clock::Real());
  ASSERT_THAT(missing, IsOk());
  EXPECT_FALSE((*missing)->Submit(Record("call", 1)));
  EXPECT_EQ((*missing)->stats().dropped, 1u);
}

TEST_F(AuditLogTest, ASinkThatComesBackSaysWhatWasLost) {
  const std::string dir = testing::MakeTempDir() + "/later";
  AuditOptions options;
  options.path = dir + "/audit.jsonl";
  {
    auto log = AuditLog::Open(options, &Clock::Real());
    ASSERT_THAT(log, IsOk());
    EXPECT_FALSE((*log)->Submit(Record("call", 1)));
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    // The writer retries every second.
    for (int i = 0; i < 50 && !(*log)->Accepting(); ++i) absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE((*log)->Accepting());
    EXPECT_TRUE((*log)->Submit(Record("call", 2)));
  }
  const std::vector<std::string> lines = Lines(options.path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("\"event\":\"start\""));
  EXPECT_THAT(lines[1], HasSubstr("\"n\":2"));
  EXPECT_THAT(lines[1], HasSubstr("\"lost\":1"));
  const ChainReport report = Verify(lines);
  EXPECT_TRUE(report.intact) << report.reason;
  EXPECT_EQ(report.lost, 1u);
}

TEST(AuditRecordTest, FieldsAreEscapedJson) {
  AuditFields f;
  f.Str("event", "call").Int("n", -3).Bool("ok", true).StrList("ids", {"a\"b", "c\n"});
  EXPECT_EQ(f.body(), R"("event":"call","n":-3,"ok":true,"ids":["a\"b","c\n"])");
}

TEST(AuditRecordTest, SmallSetsAreListedLargeOnesDigestedSorted) {
  AuditIdentities ids;
  ids.AddModule("dev-c", "m");
  ids.AddDevice("dev-a");
  ids.AddDevice("dev-b");
  AuditFields listed;
  ids.AppendTo(3, listed);
  EXPECT_EQ(listed.body(), R"("ids":["dev-c/modules/m","dev-a","dev-b"])");
  AuditIdentities again;
  again.AddModule("dev-c", "m");
  again.AddDevice("dev-a");
  again.AddDevice("dev-b");
  AuditFields digested;
  again.AppendTo(2, digested);
  // printf 'dev-a\ndev-b\ndev-c/modules/m\n' | sha256sum
  EXPECT_EQ(
      digested.body(),
      R"("ids_count":3,"ids_sha256":"ad4ca697483ec350075521b027c686fb713ca0d452536b434d2496fe8f75f1a4")");
}

}  // namespace
}  // namespace sasmint
