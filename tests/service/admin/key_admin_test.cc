// KeyAdmin: puts, deletes and lists over a file-built base; admin changes versus reloads
// (authoritative or files-win); versions and retired keys on rotation; retention by count and
// time with an injected clock.
#include "service/admin/key_admin.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/keystore/export_loader.h"
#include "service/verify/verifier.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::sasmint::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kHub[] = "hub.azure-devices.net";
constexpr int64_t kStart = 1700000000;

std::vector<uint8_t> Bytes(uint8_t fill) { return std::vector<uint8_t>(32, fill); }
HmacKey KeyOf(uint8_t fill) { return HmacKey::FromBytes(Bytes(fill)); }
std::string Fp(uint8_t fill) { return KeyOf(fill).Fingerprint(); }

// FileTable builds what a reload would: `devices` (id -> key fill) from export text.
std::shared_ptr<IdentityTable> FileTable(const std::vector<std::pair<std::string, int>>& devices) {
  auto table = std::make_shared<IdentityTable>();
  EXPECT_THAT(table->AddHub(kHub, {}), IsOk());
  std::string text;
  for (const auto& [id, fill] : devices) {
    absl::StrAppend(&text, R"({"id":")", id,
                    R"(","authentication":{"symmetricKey":{"primaryKey":")",
                    Base64Encode(Bytes(fill)), R"("}}})", "\n");
  }
  EXPECT_THAT(LoadExportText(text, "devices.json", kHub, table.get()), IsOk());
  return table;
}

AdminKeyEntry Entry(absl::string_view device, int primary, int secondary = -1,
                    absl::string_view module = "") {
  AdminKeyEntry e;
  e.identity = {kHub, std::string(device), std::string(module)};
  if (primary >= 0) e.primary.emplace(KeyOf(primary));
  if (secondary >= 0) e.secondary.emplace(KeyOf(secondary));
  return e;
}

std::vector<AdminKeyEntry> Entries(std::vector<AdminKeyEntry> v) { return v; }

class KeyAdminTest : public ::testing::Test {
 protected:
  void Start(KeyAdminOptions options = {}) {
    admin_ = std::make_unique<KeyAdmin>(&store_, &clock_, options);
    ASSERT_THAT(admin_->Start(FileTable({{"d1", 1}, {"d2", 2}, {"d3", 3}})), IsOk());
  }
  IdentityRef Find(absl::string_view device, absl::string_view module = "") {
    table_ = store_.Snapshot();
    return table_->Find(kHub, device, module);
  }
  std::string PrimaryFp(absl::string_view device) {
    const IdentityRef r = Find(device);
    return r && r.key(KeySlot::kPrimary) ? r.key(KeySlot::kPrimary)->Fingerprint() : "";
  }
  std::vector<std::string> Retired(absl::string_view device) {
    std::vector<std::string> out;
    const IdentityRef r = Find(device);
    for (const RetiredKey& k : table_->RetiredKeys(r)) {
      out.push_back(absl::StrCat(k.key.fingerprint, "@v", k.version,
                                 k.slot == KeySlot::kSecondary ? "s" : "p"));
    }
    return out;
  }

  FakeClock clock_{absl::FromUnixSeconds(kStart)};
  KeyStore store_;
  std::unique_ptr<KeyAdmin> admin_;
  std::shared_ptr<const IdentityTable> table_;
};

TEST_F(KeyAdminTest, PutAddsAndReplacesAtomically) {
  Start();
  ASSERT_OK_AND_ASSIGN(PutKeysResult r,
                       admin_->PutKeys(Entries({Entry("d1", 11), Entry("new", 50, 51),
                                                Entry("d2", 2), Entry("d1", 9, -1, "m")})));
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.changed, 1u);
  EXPECT_EQ(r.unchanged, 1u);
  EXPECT_EQ(PrimaryFp("d1"), Fp(11));
  EXPECT_EQ(Find("d1").version(), 2u);
  EXPECT_EQ(Find("d1").source(), "admin");
  EXPECT_EQ(Find("d2").version(), 1u);
  EXPECT_EQ(Find("new").key(KeySlot::kSecondary)->Fingerprint(), Fp(51));
  EXPECT_TRUE(Find("d1", "m"));
  EXPECT_EQ(Find("d3").source(), "devices.json:3");
  EXPECT_EQ(table_->size(), 5u);
  EXPECT_EQ(admin_->admin_changes(), 4u);

  // A bad entry anywhere changes nothing.
  const std::shared_ptr<const IdentityTable> before = store_.Snapshot();
  EXPECT_THAT(admin_->PutKeys(Entries({Entry("d1", 12), Entry("d9", -1)})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("entries[1]: needs primary_key or secondary_key")));
  AdminKeyEntry other_hub = Entry("d1", 12);
  other_hub.identity.hub = "typo.azure-devices.net";
  EXPECT_THAT(admin_->PutKeys(Entries({Entry("d1", 12), std::move(other_hub)})),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("entries[1].identity.hub: hub typo.azure-devices.net")));
  EXPECT_THAT(admin_->PutKeys(Entries({Entry("d1", 12), Entry("d1", 13)})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[1].identity")));
  EXPECT_THAT(admin_->PutKeys(Entries({Entry("bad/id", 12)})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("entries[0].identity")));
  EXPECT_EQ(store_.Snapshot(), before);
  EXPECT_EQ(PrimaryFp("d1"), Fp(11));
}

TEST_F(KeyAdminTest, LimitsAndNotLoaded) {
  KeyAdminOptions options;
  options.max_entries_per_request = 2;
  admin_ = std::make_unique<KeyAdmin>(&store_, &clock_, options);
  EXPECT_THAT(admin_->PutKeys(Entries({Entry("d1", 1)})),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_THAT(admin_->ListKeys(kHub, 0, ""),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ASSERT_THAT(admin_->Start(FileTable({{"d1", 1}})), IsOk());
  EXPECT_THAT(admin_->Start(FileTable({{"d1", 1}})),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  EXPECT_THAT(admin_->PutKeys(Entries({Entry("a", 1), Entry("b", 1), Entry("c", 1)})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 2")));
  const std::vector<AdminIdentity> three(3, AdminIdentity{kHub, "d1", ""});
  EXPECT_THAT(admin_->DeleteKeys(three),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at most 2")));
  ASSERT_OK_AND_ASSIGN(PutKeysResult none, admin_->PutKeys({}));
  EXPECT_EQ(none.added + none.changed + none.unchanged, 0u);
}

TEST_F(KeyAdminTest, DeleteCountsOnlyWhatExisted) {
  Start();
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("new", 50)})), IsOk());
  const std::vector<AdminIdentity> ids = {{kHub, "d1", ""},
                                          {kHub, "new", ""},
                                          {kHub, "ghost", ""},
                                          {"elsewhere.azure-devices.net", "d2", ""},
                                          {kHub, "d1", ""}};
  ASSERT_OK_AND_ASSIGN(uint32_t deleted, admin_->DeleteKeys(ids));
  EXPECT_EQ(deleted, 2u);
  EXPECT_FALSE(Find("d1"));
  EXPECT_FALSE(Find("new"));
  EXPECT_TRUE(Find("d2"));
  EXPECT_EQ(table_->size(), 2u);
  ASSERT_OK_AND_ASSIGN(deleted, admin_->DeleteKeys(ids));
  EXPECT_EQ(deleted, 0u);
  EXPECT_THAT(admin_->DeleteKeys(std::vector<AdminIdentity>{{kHub, "", ""}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("identities[0]")));
  // Put again after delete: a new identity at version 1.
  ASSERT_OK_AND_ASSIGN(PutKeysResult r, admin_->PutKeys(Entries({Entry("d1", 1)})));
  EXPECT_EQ(r.added, 1u);
  EXPECT_EQ(Find("d1").version(), 1u);
}

TEST_F(KeyAdminTest, FilesWinByDefault) {
  Start();
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 11), Entry("new", 50)})), IsOk());
  ASSERT_THAT(admin_->DeleteKeys(std::vector<AdminIdentity>{{kHub, "d2", ""}}), IsOk());
  const TableDiff diff = admin_->PublishFileTable(FileTable({{"d1", 1}, {"d2", 2}, {"d3", 3}}));
  EXPECT_EQ(admin_->admin_changes(), 0u);
  EXPECT_EQ(PrimaryFp("d1"), Fp(1));
  EXPECT_EQ(Find("d1").source(), "devices.json:1");
  EXPECT_FALSE(Find("new"));
  EXPECT_TRUE(Find("d2"));
  EXPECT_EQ(table_->base(), nullptr) << "files-win reload publishes the plain file table";
  EXPECT_EQ(diff.added, 1u);    // d2 is back
  EXPECT_EQ(diff.changed, 1u);  // d1: admin key 11 -> file key 1
  EXPECT_EQ(diff.removed, 1u);  // new
  // Versions keep going up: d1 was 1 (file), 2 (admin), now 3 (file again); key 11 retired,
  // key 1 is current again so it is no longer listed as retired.
  EXPECT_EQ(Find("d1").version(), 3u);
  EXPECT_THAT(Retired("d1"), ElementsAre(absl::StrCat(Fp(11), "@v2p")));
}

TEST_F(KeyAdminTest, AuthoritativeAdminChangesSurviveReloads) {
  KeyAdminOptions options;
  options.authoritative = true;
  Start(options);
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 11), Entry("new", 50)})), IsOk());
  ASSERT_THAT(admin_->DeleteKeys(std::vector<AdminIdentity>{{kHub, "d2", ""}}), IsOk());
  // The files rotate d1 and d3 and add d4.
  const TableDiff diff =
      admin_->PublishFileTable(FileTable({{"d1", 21}, {"d2", 2}, {"d3", 23}, {"d4", 4}}));
  EXPECT_EQ(admin_->admin_changes(), 3u);
  EXPECT_EQ(PrimaryFp("d1"), Fp(11)) << "the admin's key wins";
  EXPECT_EQ(Find("d1").version(), 2u);
  EXPECT_TRUE(Find("new"));
  EXPECT_FALSE(Find("d2")) << "an admin delete wins";
  EXPECT_EQ(PrimaryFp("d3"), Fp(23));
  EXPECT_EQ(Find("d3").version(), 2u);
  EXPECT_THAT(Retired("d3"), ElementsAre(absl::StrCat(Fp(3), "@v1p")));
  EXPECT_EQ(diff.added, 1u);
  EXPECT_EQ(diff.changed, 1u);
  EXPECT_EQ(diff.removed, 0u);
  EXPECT_EQ(table_->size(), 4u);  // d1 new d3 d4
}

TEST_F(KeyAdminTest, RotationKeepsRetiredKeysNewestFirstWithinCount) {
  Start();  // retention: 2 keys, 7 days
  // Typical rotation: the secondary becomes the primary, a new secondary arrives.
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 1, 31)})), IsOk());  // adds a secondary
  EXPECT_THAT(Retired("d1"), ElementsAre());
  clock_.Advance(absl::Hours(1));
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 31, 32)})), IsOk());
  EXPECT_EQ(Find("d1").version(), 3u);
  EXPECT_THAT(Retired("d1"), ElementsAre(absl::StrCat(Fp(1), "@v2p")));
  EXPECT_EQ(table_->RetiredKeys(Find("d1"))[0].retired_at, kStart + 3600);
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 32, 33)})), IsOk());
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 33, 34)})), IsOk());
  EXPECT_THAT(Retired("d1"),
              ElementsAre(absl::StrCat(Fp(32), "@v4p"), absl::StrCat(Fp(31), "@v3p")));
  // A status change bumps the version and retires nothing.
  AdminKeyEntry disabled = Entry("d1", 33, 34);
  disabled.status = IdentityStatus::kDisabled;
  ASSERT_OK_AND_ASSIGN(PutKeysResult r, admin_->PutKeys(Entries({std::move(disabled)})));
  EXPECT_EQ(r.changed, 1u);
  EXPECT_EQ(Find("d1").version(), 6u);
  EXPECT_EQ(Find("d1").status(), IdentityStatus::kDisabled);
  EXPECT_EQ(Retired("d1").size(), 2u);
  // A reload that changes a file identity retires its key too.
  admin_->PublishFileTable(FileTable({{"d1", 1}, {"d2", 42}, {"d3", 3}}));
  EXPECT_THAT(Retired("d2"), ElementsAre(absl::StrCat(Fp(2), "@v1p")));
  // Deleting an identity forgets its history.
  ASSERT_THAT(admin_->DeleteKeys(std::vector<AdminIdentity>{{kHub, "d2", ""}}), IsOk());
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d2", 43)})), IsOk());
  EXPECT_THAT(Retired("d2"), ElementsAre());
}

TEST_F(KeyAdminTest, VerificationNamesTheRetiredKeyAfterARotation) {
  // The key store's rotation history, end to end through the verifier: a token signed before a
  // PutKeys rotated d1's key is RETIRED_KEY (with the version it had), a fresh one is VALID, and
  // once pruning drops the history the old token is a plain SIGNATURE_MISMATCH.
  KeyAdminOptions options;
  options.retention.keep_seconds = 3600;
  Start(options);
  const TokenScope scope = TokenScope::Device(kHub, "d1");
  ASSERT_OK_AND_ASSIGN(const std::string before, BuildToken(scope, KeyOf(1), kStart + 7200));
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 11)})), IsOk());
  ASSERT_OK_AND_ASSIGN(const std::string after, BuildToken(scope, KeyOf(11), kStart + 7200));

  VerifyOptions at_start;
  at_start.now = kStart;
  table_ = store_.Snapshot();
  const VerifyReport old_report = Verify(before, at_start, KeySource::Table(*table_));
  EXPECT_EQ(old_report.verdict, Verdict::kRetiredKey) << old_report.message;
  ASSERT_TRUE(old_report.matched_key.has_value());
  EXPECT_TRUE(old_report.matched_key->retired);
  EXPECT_EQ(old_report.matched_key->version, 1u);
  EXPECT_EQ(old_report.matched_key->slot, KeySlot::kPrimary);
  const VerifyReport new_report = Verify(after, at_start, KeySource::Table(*table_));
  EXPECT_TRUE(new_report.valid()) << new_report.message;
  EXPECT_EQ(new_report.matched_key->version, 2u);

  clock_.Advance(absl::Seconds(3601));
  admin_->PruneRetired();
  table_ = store_.Snapshot();
  EXPECT_EQ(Verify(before, at_start, KeySource::Table(*table_)).verdict,
            Verdict::kSignatureMismatch);
}

TEST_F(KeyAdminTest, RetiredKeysExpireWithTheClock) {
  KeyAdminOptions options;
  options.retention = {/*keep_seconds=*/3600, /*keep_count=*/5};
  Start(options);
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 11)})), IsOk());
  clock_.Advance(absl::Minutes(30));
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 12)})), IsOk());
  EXPECT_EQ(Retired("d1").size(), 2u);
  EXPECT_EQ(admin_->PruneRetired(), 0u);
  clock_.Advance(absl::Minutes(31));  // key 1 retired 61 min ago, key 11 31 min ago
  EXPECT_EQ(admin_->PruneRetired(), 1u);
  EXPECT_THAT(Retired("d1"), ElementsAre(absl::StrCat(Fp(11), "@v2p")));
  EXPECT_EQ(PrimaryFp("d1"), Fp(12)) << "pruning keeps the identities";
  // Pruning also happens on the next change, and a plain file table carries no stale keys.
  clock_.Advance(absl::Hours(1));
  admin_->PublishFileTable(FileTable({{"d1", 12}, {"d2", 2}, {"d3", 3}}));
  EXPECT_THAT(Retired("d1"), ElementsAre());
}

TEST_F(KeyAdminTest, ListKeysPagesStablyAcrossReloadsWithMetadataOnly) {
  Start();
  ASSERT_THAT(admin_->PutKeys(Entries({Entry("d1", 11, 12), Entry("d0", 10, -1, "m")})), IsOk());
  ASSERT_OK_AND_ASSIGN(KeyPage first, admin_->ListKeys(kHub, 2, ""));
  ASSERT_EQ(first.keys.size(), 2u);
  EXPECT_EQ(first.keys[0].identity.device_id, "d0");
  EXPECT_EQ(first.keys[0].identity.module_id, "m");
  EXPECT_EQ(first.keys[1].identity.device_id, "d1");
  EXPECT_EQ(first.keys[1].primary_fingerprint, Fp(11));
  EXPECT_EQ(first.keys[1].secondary_fingerprint, Fp(12));
  EXPECT_EQ(first.keys[1].version, 2u);
  EXPECT_EQ(first.keys[1].source, "admin");
  ASSERT_FALSE(first.next_page_token.empty());
  // A reload in between (files win: the admin's identities go; d15 appears behind the cursor,
  // d25 after it).
  admin_->PublishFileTable(FileTable({{"d1", 1}, {"d15", 5}, {"d2", 2}, {"d25", 6}, {"d3", 3}}));
  ASSERT_OK_AND_ASSIGN(KeyPage second, admin_->ListKeys(kHub, 2, first.next_page_token));
  ASSERT_EQ(second.keys.size(), 2u);
  EXPECT_EQ(second.keys[0].identity.device_id, "d15");
  EXPECT_EQ(second.keys[0].source, "devices.json:2");
  EXPECT_EQ(second.keys[0].secondary_fingerprint, "");
  EXPECT_EQ(second.keys[1].identity.device_id, "d2");
  ASSERT_OK_AND_ASSIGN(KeyPage third, admin_->ListKeys(kHub, 2, second.next_page_token));
  ASSERT_EQ(third.keys.size(), 2u);
  EXPECT_EQ(third.keys[1].identity.device_id, "d3");
  EXPECT_EQ(third.next_page_token, "");

  EXPECT_THAT(admin_->ListKeys("", 0, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(admin_->ListKeys("other.azure-devices.net", 0, ""),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(admin_->ListKeys(kHub, 0, "not base64!"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  const std::string foreign = "b3RoZXIuYXp1cmUtZGV2aWNlcy5uZXQKZDEK";  // other hub's cursor
  EXPECT_THAT(admin_->ListKeys(kHub, 0, foreign),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token")));
  ASSERT_OK_AND_ASSIGN(KeyPage all, admin_->ListKeys(kHub, 0, ""));
  EXPECT_EQ(all.keys.size(), 5u);
}

TEST_F(KeyAdminTest, PageSizeDefaultsAndCaps) {
  std::vector<std::pair<std::string, int>> many;
  for (int i = 0; i < 1500; ++i) many.emplace_back(absl::StrCat("dev", 10000 + i), 1);
  admin_ = std::make_unique<KeyAdmin>(&store_, &clock_, KeyAdminOptions{});
  ASSERT_THAT(admin_->Start(FileTable(many)), IsOk());
  ASSERT_OK_AND_ASSIGN(KeyPage page, admin_->ListKeys(kHub, 0, ""));
  EXPECT_EQ(page.keys.size(), KeyAdmin::kDefaultPageSize);
  ASSERT_OK_AND_ASSIGN(page, admin_->ListKeys(kHub, 5000, ""));
  EXPECT_EQ(page.keys.size(), KeyAdmin::kMaxPageSize);
  ASSERT_OK_AND_ASSIGN(page, admin_->ListKeys(kHub, 5000, page.next_page_token));
  EXPECT_EQ(page.keys.size(), 500u);
  EXPECT_EQ(page.next_page_token, "");
}

}  // namespace
}  // namespace sasmint
