#include "service/keystore/export_loader.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr const char* kKeyA = testing::kTestKey;
constexpr const char* kKeyB = testing::kTestKey2;

std::string Line(absl::string_view id, absl::string_view primary = kKeyA,
                 absl::string_view status = "enabled", absl::string_view extra = "") {
  return absl::StrCat(
      R"({"id":")", id, R"(","status":")", status, R"(",)", extra,
      R"("authentication":{"type":"sas","symmetricKey":{"primaryKey":")", primary,
      R"(","secondaryKey":")", kKeyB,
      R"("},"x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null}},)",
      R"("etag":"AAAA","cloudToDeviceMessageCount":0})");
}

TEST(ExportLoaderTest, LoadsDevicesModulesStatusAndThumbprints) {
  const std::string text = absl::StrCat(
      Line("dev1"), "\n", Line("dev1", kKeyB, "enabled", R"("moduleId":"m1",)"), "\n",
      Line("off", kKeyA, "disabled"), "\n",
      R"({"id":"x509dev","status":"enabled","authentication":{"type":"selfSigned","symmetricKey":{"primaryKey":null,"secondaryKey":null},"x509Thumbprint":{"primaryThumbprint":"AB12","secondaryThumbprint":"CD34"}}})",
      "\n");
  IdentityTable table;
  ASSERT_THAT(LoadExportText(text, "devices.json", kHub, &table), IsOk());
  EXPECT_EQ(table.size(), 4u);
  EXPECT_TRUE(table.ServesHub(kHub));
  EXPECT_FALSE(table.ServesHub("other.azure-devices.net"));

  const IdentityRef dev = table.Find(kHub, "dev1", "");
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev.status(), IdentityStatus::kEnabled);
  ASSERT_NE(dev.key(KeySlot::kPrimary), nullptr);
  ASSERT_NE(dev.key(KeySlot::kSecondary), nullptr);
  EXPECT_EQ(dev.source(), "devices.json:1");
  EXPECT_EQ(dev.hub(), kHub);
  EXPECT_EQ(dev.device_id(), "dev1");
  EXPECT_EQ(dev.module_id(), "");
  EXPECT_EQ(dev.auth_type(), "sas");
  // The stored midstates sign exactly as the keys would.
  const auto key_a = DecodeBase64Key(kKeyA);
  const auto key_b = DecodeBase64Key(kKeyB);
  ASSERT_THAT(key_a, IsOk());
  ASSERT_THAT(key_b, IsOk());
  const uint8_t msg[] = {'x'};
  EXPECT_EQ(dev.key(KeySlot::kPrimary)->Sign(msg), HmacKey::FromSecret(*key_a).Sign(msg));
  EXPECT_EQ(dev.key(KeySlot::kSecondary)->Sign(msg), HmacKey::FromSecret(*key_b).Sign(msg));
  EXPECT_EQ(dev.hash(), IdentityTable::IdentityHash("hub.azure-devices.net", "dev1", ""));

  const IdentityRef module = table.Find(kHub, "dev1", "m1");
  ASSERT_TRUE(module);
  EXPECT_EQ(module.module_id(), "m1");
  EXPECT_EQ(module.key(KeySlot::kPrimary)->Sign(msg), HmacKey::FromSecret(*key_b).Sign(msg));

  EXPECT_EQ(table.Find(kHub, "off", "").status(), IdentityStatus::kDisabled);
  const IdentityRef x509 = table.Find(kHub, "x509dev", "");
  ASSERT_TRUE(x509);
  EXPECT_FALSE(x509.has_keys());
  EXPECT_EQ(x509.key(KeySlot::kPrimary), nullptr);
  EXPECT_EQ(x509.auth_type(), "selfSigned");
  EXPECT_EQ(x509.primary_thumbprint(), "AB12");
  EXPECT_EQ(x509.secondary_thumbprint(), "CD34");
  EXPECT_FALSE(table.Find(kHub, "nobody", ""));
  EXPECT_FALSE(table.Find(kHub, "dev", ""));
  EXPECT_FALSE(table.Find(kHub, "dev1", "m"));
  EXPECT_FALSE(table.Find("other.azure-devices.net", "dev1", ""));
}

TEST(ExportLoaderTest, AcceptsBomCrlfAndBlankLines) {
  const std::string text =
      absl::StrCat("\xEF\xBB\xBF", Line("a"), "\r\n\r\n   \n", Line("b"), "\r\n\n", Line("c"));
  IdentityTable table;
  ASSERT_THAT(LoadExportText(text, "f", kHub, &table), IsOk());
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.Find(kHub, "b", "").source(), "f:4");
}

TEST(ExportLoaderTest, EveryAllowedSpecialCharacterAnd128CharacterIds) {
  const std::string special = "a-:.+%_#*?!(),=@;$'z";
  const std::string long_id(128, 'x');
  IdentityTable table;
  ASSERT_THAT(LoadExportText(absl::StrCat(Line(special), "\n", Line(long_id)), "f", kHub, &table),
              IsOk());
  const IdentityRef e = table.Find(kHub, special, "");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.device_id(), special);
  EXPECT_TRUE(table.Find(kHub, long_id, ""));
}

struct BadCase {
  std::string name;
  std::string text;
  absl::StatusCode code;
  std::string message;
};

TEST(ExportLoaderTest, RejectsMalformedInputWithFileAndLine) {
  const std::vector<BadCase> cases = {
      {"truncated json", Line("a") + "\n" + R"({"id":"b","status":)",
       absl::StatusCode::kInvalidArgument, "devices.json:2: malformed JSON"},
      {"not an object", "[1,2]", absl::StatusCode::kInvalidArgument,
       "devices.json:1: line is not a JSON object"},
      {"missing id", R"({"status":"enabled"})", absl::StatusCode::kInvalidArgument,
       "devices.json:1: missing id"},
      {"id not string", R"({"id":5})", absl::StatusCode::kInvalidArgument, "id must be a string"},
      {"bad status", Line("a", kKeyA, "sleeping"), absl::StatusCode::kInvalidArgument,
       "status must be"},
      {"bad base64", Line("a", "not*base64*key*AAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
       absl::StatusCode::kInvalidArgument, "devices.json:1: primary key is not valid base64"},
      {"short key", Line("a", "c2hvcnQ="), absl::StatusCode::kInvalidArgument,
       "primary key decodes to 5 bytes"},
      {"long key", Line("a", Base64Encode(std::vector<uint8_t>(65, 7))),
       absl::StatusCode::kInvalidArgument, "decodes to 65 bytes"},
      {"id too long", Line(std::string(129, 'x')), absl::StatusCode::kInvalidArgument,
       "129 characters"},
      {"slash in id", Line("a/b"), absl::StatusCode::kInvalidArgument, "'/' at offset 1"},
      {"sas without keys",
       R"({"id":"a","authentication":{"type":"sas","symmetricKey":{"primaryKey":null}}})",
       absl::StatusCode::kInvalidArgument, "neither primaryKey nor secondaryKey"},
      {"duplicate", Line("a") + "\n" + Line("b") + "\n" + Line("a"),
       absl::StatusCode::kAlreadyExists, "devices.json:3: duplicate identity"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    IdentityTable table;
    EXPECT_THAT(LoadExportText(c.text, "devices.json", kHub, &table),
                StatusIs(c.code, HasSubstr(c.message)));
  }
}

TEST(ExportLoaderTest, LenientModeSkipsCountsAndReportsBadLines) {
  const std::string text =
      absl::StrCat(Line("a"), "\n", "{not json\n", Line("b", "c2hvcnQ="), "\n", Line("c"), "\n",
                   Line("a"), "\n", Line("bad/id"), "\n", Line("d"), "\n");
  IdentityTable strict;
  EXPECT_THAT(LoadExportText(text, "f", kHub, &strict),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("f:2: malformed JSON")));

  IdentityTable table;
  ExportLoadStats stats;
  ASSERT_THAT(LoadExportText(text, "f", kHub, &table, ExportLoadOptions{.lenient = true}, &stats),
              IsOk());
  EXPECT_EQ(table.size(), 3u);  // a, c, d
  EXPECT_TRUE(table.Find(kHub, "a", ""));
  EXPECT_TRUE(table.Find(kHub, "c", ""));
  EXPECT_TRUE(table.Find(kHub, "d", ""));
  EXPECT_FALSE(table.Find(kHub, "b", ""));
  EXPECT_EQ(stats.loaded, 3u);
  EXPECT_EQ(stats.skipped, 4u);  // bad JSON, short key, duplicate a, bad ID
  ASSERT_EQ(stats.first_errors.size(), 4u);
  EXPECT_THAT(stats.first_errors[0], HasSubstr("f:2: malformed JSON"));
  EXPECT_THAT(stats.first_errors[1], HasSubstr("f:3: primary key decodes to 5 bytes"));
  // Duplicates are found when a chunk is committed, after the line checks of its chunk.
  EXPECT_THAT(stats.first_errors, ::testing::Contains(HasSubstr("f:5: duplicate identity")));
  EXPECT_THAT(stats.first_errors, ::testing::Contains(HasSubstr("f:6: device ID")));
  // Skipped lines do not disturb the keys of the lines after them.
  const auto key_a = DecodeBase64Key(kKeyA);
  const uint8_t msg[] = {'x'};
  EXPECT_EQ(table.Find(kHub, "d", "").key(KeySlot::kPrimary)->Sign(msg),
            HmacKey::FromSecret(*key_a).Sign(msg));
}

TEST(ExportLoaderTest, ErrorsNeverContainKeyText) {
  // A key that is almost valid: the error must point at it without echoing it.
  const std::string bad_key = "+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6r!=";
  IdentityTable table;
  const absl::Status s = LoadExportText(Line("a", bad_key), "f", kHub, &table);
  EXPECT_THAT(
      s, StatusIs(absl::StatusCode::kInvalidArgument,
                  AllOf(HasSubstr("offset 42"), Not(HasSubstr("MVZ")), Not(HasSubstr(kKeyB)))));
}

TEST(ExportLoaderTest, ReadsRealFilesAndReportsMissingOnes) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/export.json";
  testing::WriteFile(path, absl::StrCat(Line("d1"), "\n", Line("d2"), "\n"));
  IdentityTable table;
  ASSERT_THAT(LoadExportFile(path, kHub, &table), IsOk());
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Find(kHub, "d2", "").source(), path + ":2");

  IdentityTable missing;
  EXPECT_THAT(LoadExportFile(dir + "/nope.json", kHub, &missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.json")));
  IdentityTable bad_hub;
  EXPECT_THAT(LoadExportFile(path, "bad hub", &bad_hub),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hub host name")));
}

TEST(ExportLoaderTest, FilesReadThroughAnyWindowSizeLoadTheSame) {
  // Files are read a window at a time, whole lines per parse. Every window size from one byte
  // (each line grows the window) to more than the file puts the window's edge at every offset
  // of a line: BOM, CRLF, blank lines, a last line without '\n' and a line far longer than the
  // others must load exactly as the in-memory text does, with the same line numbers.
  const std::string long_id(128, 'L');
  const std::string text = absl::StrCat("\xEF\xBB\xBF", Line("a"), "\r\n\r\n   \n", Line("b"), "\n",
                                        Line(long_id, kKeyA, "disabled"), "\r\n\n", Line("c"));
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/export.json";
  testing::WriteFile(path, text);
  for (size_t window : {size_t{1}, size_t{7}, size_t{64}, size_t{200}, size_t{333}, size_t{1000},
                        text.size() - 1, text.size(), text.size() + 1, size_t{16} << 20}) {
    SCOPED_TRACE(absl::StrCat("window ", window));
    ExportLoadOptions options;
    options.read_window_bytes = window;
    IdentityTable table;
    ExportLoadStats stats;
    ASSERT_THAT(LoadExportFile(path, kHub, &table, options, &stats), IsOk());
    EXPECT_EQ(stats.loaded, 4u);
    EXPECT_EQ(table.Find(kHub, "a", "").source(), path + ":1");
    EXPECT_EQ(table.Find(kHub, "b", "").source(), path + ":4");
    EXPECT_EQ(table.Find(kHub, long_id, "").source(), path + ":5");
    EXPECT_EQ(table.Find(kHub, long_id, "").status(), IdentityStatus::kDisabled);
    EXPECT_EQ(table.Find(kHub, "c", "").source(), path + ":7");
  }
  // Errors carry the right line number across windows too.
  testing::WriteFile(path, absl::StrCat(Line("a"), "\n", Line("b"), "\n{\"id\":\n", Line("c")));
  ExportLoadOptions small;
  small.read_window_bytes = 50;
  IdentityTable broken;
  EXPECT_THAT(LoadExportFile(path, kHub, &broken, small),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("export.json:3: malformed")));
}

TEST(IdentityTableTest, ManyIdentitiesAcrossHubsAreFoundAndCompact) {
  // Enough identities that the index rehashes several times and keys span several chunks.
  IdentityTable table;
  const auto key = DecodeBase64Key(kKeyA);
  ASSERT_THAT(key, IsOk());
  IdentityKeys keys;
  keys.primary.emplace(HmacKey::FromSecret(*key));
  constexpr int kCount = 50000;
  for (int i = 0; i < kCount; ++i) {
    keys.source_line = i + 1;
    ASSERT_THAT(table.Add(i % 2 ? kHub : "other.azure-devices.net", absl::StrCat("device-", i),
                          i % 3 == 0 ? "mod" : "", keys),
                IsOk());
  }
  table.Compact();
  EXPECT_EQ(table.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; i += 7) {
    const IdentityRef r = table.Find(i % 2 ? kHub : "other.azure-devices.net",
                                     absl::StrCat("device-", i), i % 3 == 0 ? "mod" : "");
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r.source(), absl::StrCat("?:", i + 1));
    EXPECT_FALSE(table.Find(i % 2 ? "other.azure-devices.net" : kHub, absl::StrCat("device-", i),
                            i % 3 == 0 ? "mod" : ""));
  }
  EXPECT_THAT(table.Add(kHub, "device-1", "", keys),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("first defined at ?:2")));
  size_t seen = 0;
  table.ForEachIdentity([&](const IdentityRef&) { ++seen; });
  EXPECT_EQ(seen, static_cast<size_t>(kCount));
  // Hot entries, keys, cold records and names together stay under the 300-byte budget per
  // identity, even at this size, where the last 2 MiB chunks of keys and cold records are mostly
  // empty (about 235 bytes at fleet size: bench/README.md).
  EXPECT_LT(table.IdentityMemoryBytes() / kCount, 300u);
}

TEST(KeyStoreTest, SnapshotsSurvivePublish) {
  KeyStore store;
  EXPECT_EQ(store.Snapshot(), nullptr);
  auto first = std::make_shared<IdentityTable>();
  ASSERT_THAT(LoadExportText(Line("a"), "f", kHub, first.get()), IsOk());
  store.Publish(first);
  const std::shared_ptr<const IdentityTable> held = store.Snapshot();
  auto second = std::make_shared<IdentityTable>();
  ASSERT_THAT(LoadExportText(Line("b"), "f", kHub, second.get()), IsOk());
  store.Publish(second);
  EXPECT_TRUE(held->Find(kHub, "a", ""));  // the reader's snapshot is unchanged
  EXPECT_FALSE(store.Snapshot()->Find(kHub, "a", ""));
  EXPECT_TRUE(store.Snapshot()->Find(kHub, "b", ""));
}

}  // namespace
}  // namespace sasmint
