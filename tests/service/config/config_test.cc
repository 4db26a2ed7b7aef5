#include "service/config/config.h"

#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/mint/minter.h"
#include "signer/encoding.h"
#include "tests/testing/secret_volume.h"
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

// Published vectors (tests/testdata/sas_tokens.txt): the az CLI hub and key, and the DPS docs'
// group key with its derived device key.
constexpr char kHub[] = "iot-hub-for-test.azure-devices.net";
constexpr const char* kKey = testing::kTestKey;
constexpr const char* kGroupKey = testing::kTestGroupKey;
constexpr const char* kRegistration = testing::kTestRegistration;
constexpr const char* kDerivedKey = testing::kTestDerivedKey;
const absl::Time kNow = absl::FromUnixSeconds(1471940363 - 3600);

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }

  absl::StatusOr<ServiceConfig> Parse(const std::string& json) {
    return ParseConfig(json, "sasmint.json", dir_);
  }

  std::string dir_;
};

TEST_F(ConfigTest, FullConfigWithKeyFilesRelativePathsAndLimits) {
  testing::WriteFile(
      dir_ + "/devices.json",
      absl::StrCat(
          R"({"id":"iot-device-for-test","authentication":{"symmetricKey":{"primaryKey":")", kKey,
          R"("}}})", "\n"));
  testing::WriteFile(dir_ + "/owner.key", absl::StrCat("  ", kKey, "\n"));
  ASSERT_OK_AND_ASSIGN(
      ServiceConfig config,
      Parse(absl::StrCat(R"({
    "listen": "127.0.0.1:0",
    "hubs": [{"host": ")",
                         kHub, R"(", "device_files": ["devices.json"], "active_slot": "secondary",
              "policies": [{"name": "iothubowner", "rights": ["RegistryWrite", "ServiceConnect", "DeviceConnect"],
                            "primary_key_file": "owner.key", "secondary_key": ")",
                         kKey, R"("}]}],
    "dps": [{"id_scope": "0ne00000001", "groups": [{"name": "all", "primary_key": ")",
                         kGroupKey, R"("}]}],
    "limits": {"default_ttl_seconds": 600, "max_batch_size": 500, "renew_window_start": 0.5,
               "renew_window_end": 0.6, "max_connection_age_seconds": 0, "shutdown_grace_seconds": 3}
  })")));
  EXPECT_EQ(config.server.listen_address, "127.0.0.1:0");
  EXPECT_EQ(config.server.mint.default_ttl_seconds, 600u);
  EXPECT_EQ(config.server.mint.max_batch_size, 500u);
  EXPECT_DOUBLE_EQ(config.server.mint.renew_window_start, 0.5);
  EXPECT_EQ(config.server.max_connection_age_seconds, 0);
  EXPECT_EQ(config.server.shutdown_grace_seconds, 3);
  ASSERT_EQ(config.hubs.size(), 1u);
  EXPECT_EQ(config.hubs[0].device_files[0], dir_ + "/devices.json");
  EXPECT_EQ(config.hubs[0].settings.active_slot, KeySlot::kSecondary);
  ASSERT_EQ(config.hubs[0].policies.size(), 1u);
  EXPECT_EQ(config.hubs[0].policies[0].rights,
            uint32_t{kRegistryRead | kRegistryWrite | kServiceConnect | kDeviceConnect});

  ASSERT_OK_AND_ASSIGN(auto table, BuildIdentityTable(config));
  EXPECT_EQ(table->size(), 1u);
  EXPECT_EQ(table->policy_count(), 1u);
  EXPECT_EQ(table->dps_group_count(), 1u);

  // The published policy vector, minted through the configured policy (secondary is active and
  // holds the same key here), byte for byte.
  const Minter minter{config.server.mint, *BatchSigner::Best()};
  MintRequest policy{TokenScope::Policy(kHub, "iothubowner"), 3600, KeySlot::kActive};
  ASSERT_OK_AND_ASSIGN(MintedToken t, minter.Mint(*table, policy, kNow));
  EXPECT_EQ(t.token,
            "SharedAccessSignature "
            "sr=iot-hub-for-test.azure-devices.net&sig=770sPjjYxRYpNz8%"
            "2FhEN7XR5XU5KDGYGTinSP8YyeTXw%3D&se=1471940363&skn=iothubowner");
  EXPECT_EQ(t.key_slot, KeySlot::kSecondary);
  MintRequest module_path{TokenScope::Policy(kHub, "iothubowner",
                                             "devices/iot-device-for-test/modules/module-for-test"),
                          3600, KeySlot::kPrimary};
  ASSERT_OK_AND_ASSIGN(MintedToken m, minter.Mint(*table, module_path, kNow));
  EXPECT_EQ(m.token,
            "SharedAccessSignature "
            "sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test%2Fmodules%"
            "2Fmodule-for-test&sig=JwAxBBBPYA0E%2FTHdnrXzUfBfuZ7deH6pppCniJ23Uu0%3D&se=1471940363&"
            "skn=iothubowner");
  // Device tokens use the identity's own key (no device_policy configured).
  MintRequest device{TokenScope::Device(kHub, "iot-device-for-test"), 3600, KeySlot::kPrimary};
  ASSERT_OK_AND_ASSIGN(MintedToken d, minter.Mint(*table, device, kNow));
  EXPECT_EQ(d.token,
            "SharedAccessSignature "
            "sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test&sig="
            "SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363");

  // DPS: the token is signed with the published derived key.
  MintRequest dps{TokenScope::Registration("0ne00000001", kRegistration), 3600, KeySlot::kActive};
  ASSERT_OK_AND_ASSIGN(MintedToken r, minter.Mint(*table, dps, kNow));
  auto derived = DecodeBase64Key(kDerivedKey);
  ASSERT_THAT(derived, IsOk());
  ASSERT_OK_AND_ASSIGN(std::string expected,
                       BuildToken(TokenScope::Registration("0ne00000001", kRegistration),
                                  HmacKey::FromSecret(*derived), 1471940363));
  EXPECT_EQ(r.token, expected);
  EXPECT_THAT(r.token, HasSubstr("&skn=registration"));
  MintRequest dps_secondary = dps;
  dps_secondary.key_slot = KeySlot::kSecondary;
  EXPECT_THAT(minter.Mint(*table, dps_secondary, kNow),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no secondary key")));
  MintRequest other_scope{TokenScope::Registration("0ne00000002", "x"), 0, KeySlot::kActive};
  EXPECT_THAT(minter.Mint(*table, other_scope, kNow),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("0ne00000002")));
}

TEST_F(ConfigTest, DevicePolicySignsEveryDeviceOfItsHub) {
  testing::WriteFile(
      dir_ + "/devices.json",
      absl::StrCat(
          R"({"id":"off","status":"disabled","authentication":{"symmetricKey":{"primaryKey":")",
          kKey, R"("}}})", "\n"));
  ASSERT_OK_AND_ASSIGN(
      ServiceConfig config,
      Parse(absl::StrCat(R"({"hubs": [{"host": ")", kHub,
                         R"(", "device_files": ["devices.json"], "device_policy": "device",
      "policies": [{"name": "device", "rights": ["DeviceConnect"], "primary_key": ")",
                         kKey, R"("}]}]})")));
  ASSERT_OK_AND_ASSIGN(auto table, BuildIdentityTable(config));
  const Minter minter{config.server.mint, *BatchSigner::Best()};
  ASSERT_OK_AND_ASSIGN(
      MintedToken t,
      minter.Mint(*table, MintRequest{TokenScope::Device(kHub, "anyone"), 3600, KeySlot::kActive},
                  kNow));
  auto key = DecodeBase64Key(kKey);
  const std::string sr = EncodedResource(TokenScope::Device(kHub, "anyone"));
  const std::string sts = StringToSign(sr, 1471940363);
  const Mac mac = HmacKey::FromSecret(*key).Sign(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(sts.data()), sts.size()));
  EXPECT_EQ(t.token, FormatToken(sr, mac, 1471940363, "device"));
  // Listed identities keep their status.
  EXPECT_THAT(
      minter.Mint(*table, MintRequest{TokenScope::Device(kHub, "off"), 0, KeySlot::kActive}, kNow),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("disabled")));
}

TEST_F(ConfigTest, ErrorsNameThePathAndNeverTheKey) {
  const std::string bad_key = "+XLy+MVZ+aTeOnVzN2kLeB16O+kSxmz6g3rS6fAf6r*=";
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{", "sasmint.json: malformed JSON"},
      {"[]", "(top level): must be an object"},
      {R"({"listen": "x", "hub": []})", "unknown option \"hub\""},
      {R"({"hubs": [{"host": "bad host"}]})", "hubs[0].host: hub host name"},
      {R"({"hubs": [{"host": "h.net", "policies": [{"name": "p", "rights": ["Connect"], "primary_key": "AAAAAAAAAAAAAAAAAAAAAA=="}]}]})",
       "hubs[0].policies[0].rights[0]: unknown right \"Connect\""},
      {absl::StrCat(
           R"({"hubs": [{"host": "h.net", "policies": [{"name": "p", "rights": ["DeviceConnect"], "primary_key": ")",
           bad_key, R"("}]}]})"),
       "hubs[0].policies[0].primary_key: key is not valid base64: invalid character at offset 42"},
      {R"({"hubs": [{"host": "h.net", "policies": [{"name": "p", "rights": ["DeviceConnect"], "primary_key": "c2hvcnQ="}]}]})",
       "decodes to 5 bytes"},
      {R"({"hubs": [{"host": "h.net", "policies": [{"name": "p", "rights": ["DeviceConnect"]}]}]})",
       "needs primary_key(_file) or secondary_key(_file)"},
      {R"({"hubs": [{"host": "h.net", "policies": [{"name": "p", "rights": ["DeviceConnect"], "primary_key_file": "missing.key"}]}]})",
       "cannot read key file"},
      {R"({"hubs": [{"host": "h.net", "device_policy": "device"}]})",
       "hubs[0].device_policy: must name a policy of this hub with the DeviceConnect right"},
      {R"({"hubs": [{"host": "h.net", "device_policy": "svc", "policies": [{"name": "svc", "rights": ["ServiceConnect"], "primary_key": "AAAAAAAAAAAAAAAAAAAAAA=="}]}]})",
       "DeviceConnect right"},
      {R"({"hubs": [{"host": "h.net"}, {"host": "h.net"}]})", "configured twice"},
      {R"({"hubs": [{"host": "h.net", "active_slot": "tertiary"}]})", "active_slot"},
      {R"({"limits": {"max_batch_size": 0}})", "limits.max_batch_size: must be an integer from 1"},
      {R"({"limits": {"max_batch_sise": 10}})", "unknown option \"max_batch_sise\""},
      {R"({"limits": {"renew_window_start": 0.9, "renew_window_end": 0.5}})", "renew window"},
      {R"({"limits": {"min_ttl_seconds": 7200}})", "min <= default <= max"},
      {R"({"dps": [{"id_scope": "0ne-1", "groups": []}]})", "dps[0].id_scope"},
      {R"({"dps": [{"id_scope": "0ne1"}]})", "needs \"groups\""},
      {R"({"malformed_export_lines": "maybe"})", "must be \"fail\" or \"skip\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    auto config = Parse(c.json);
    EXPECT_THAT(config.status(), Not(IsOk()));
    EXPECT_THAT(std::string(config.status().message()),
                AllOf(HasSubstr(c.message), Not(HasSubstr("XLy+MVZ"))));
  }
}

TEST_F(ConfigTest, SkipModeLoadsTheGoodLines) {
  testing::WriteFile(
      dir_ + "/devices.json",
      absl::StrCat(R"({"id":"good","authentication":{"symmetricKey":{"primaryKey":")", kKey,
                   R"("}}})", "\n{broken\n"));
  const std::string hubs = R"("hubs": [{"host": "h.net", "device_files": ["devices.json"]}])";
  ASSERT_OK_AND_ASSIGN(ServiceConfig strict, Parse(absl::StrCat("{", hubs, "}")));
  EXPECT_THAT(BuildIdentityTable(strict),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("devices.json:2")));
  ASSERT_OK_AND_ASSIGN(ServiceConfig lenient,
                       Parse(absl::StrCat(R"({"malformed_export_lines": "skip", )", hubs, "}")));
  ASSERT_OK_AND_ASSIGN(auto table, BuildIdentityTable(lenient));
  EXPECT_EQ(table->size(), 1u);
  EXPECT_TRUE(table->Find("h.net", "good", ""));
}

TEST_F(ConfigTest, AdminAndRotation) {
  ASSERT_OK_AND_ASSIGN(ServiceConfig defaults, Parse(R"({"hubs": [{"host": "h.net"}]})"));
  EXPECT_FALSE(defaults.admin.authoritative);
  EXPECT_EQ(defaults.admin.max_entries_per_request, 10000u);
  EXPECT_EQ(defaults.admin.retention.keep_seconds, 7 * 86400);
  EXPECT_EQ(defaults.admin.retention.keep_count, 2u);
  EXPECT_EQ(defaults.server.admin_listen_address, "");
  EXPECT_TRUE(defaults.server.key_admin_enabled);
  ASSERT_OK_AND_ASSIGN(ServiceConfig off, Parse(R"({"admin": {"enabled": false}})"));
  EXPECT_FALSE(off.server.key_admin_enabled);

  ASSERT_OK_AND_ASSIGN(ServiceConfig config, Parse(R"({"listen": "0.0.0.0:50051",
      "admin": {"listen": "127.0.0.1:7001", "authoritative": true, "max_entries_per_request": 50},
      "rotation": {"retired_keep_seconds": 3600, "retired_keep_count": 3}})"));
  EXPECT_TRUE(config.admin.authoritative);
  EXPECT_EQ(config.admin.max_entries_per_request, 50u);
  EXPECT_EQ(config.admin.retention.keep_seconds, 3600);
  EXPECT_EQ(config.admin.retention.keep_count, 3u);
  EXPECT_EQ(config.server.admin_listen_address, "127.0.0.1:7001");

  EXPECT_THAT(Parse(R"({"admin": {"authoritive": true}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("admin: unknown option \"authoritive\"")));
  EXPECT_THAT(Parse(R"({"admin": {"authoritative": "yes"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("admin.authoritative: must be true or false")));
  EXPECT_THAT(Parse(R"({"admin": {"listen": ""}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("admin.listen")));
  EXPECT_THAT(
      Parse(R"({"listen": "0.0.0.0:7001", "admin": {"listen": "0.0.0.0:7001"}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("admin.listen: admin listen")));
  EXPECT_THAT(Parse(R"({"admin": {"max_entries_per_request": 0}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("admin.max_entries_per_request: must be an integer from 1")));
  EXPECT_THAT(Parse(R"({"rotation": {"retired_keep_count": 101}})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("rotation.retired_keep_count: must be an integer from 0 to 100")));
  EXPECT_THAT(
      Parse(R"({"rotation": {"retired_keep_seconds": -1}})"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rotation.retired_keep_seconds")));
  EXPECT_THAT(Parse(R"({"rotation": {"keep": 1}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rotation: unknown option")));
}

TEST_F(ConfigTest, MissingConfigFileIsNotFound) {
  EXPECT_THAT(LoadConfigFile(dir_ + "/none.json"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("none.json")));
}

TEST_F(ConfigTest, BadDeviceFileFailsTheBuild) {
  testing::WriteFile(dir_ + "/devices.json", "{\"id\":\n");
  ASSERT_OK_AND_ASSIGN(ServiceConfig config,
                       Parse(R"({"hubs": [{"host": "h.net", "device_files": ["devices.json"]}]})"));
  EXPECT_THAT(BuildIdentityTable(config),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("devices.json:1: malformed")));
}

// Several Secrets projected into one directory (each a shard of the fleet's export): one pattern
// names them all, so that adding a shard needs no configuration change.
TEST_F(ConfigTest, DeviceFilePatternReadsEveryShardOfAProjectedVolume) {
  const std::string keys = dir_ + "/keys";
  ASSERT_EQ(mkdir(keys.c_str(), 0755), 0);
  testing::FakeSecretVolume volume(keys);
  volume.Update({{"shard-1.json", testing::ExportLine("dev-b", "", kKey)},
                 {"shard-0.json", testing::ExportLine("dev-a", "", kKey)},
                 {"README", "not an export"}});
  const std::string json =
      R"({"hubs": [{"host": "h.net", "device_files": ["keys/shard-*.json"]}]})";
  ASSERT_OK_AND_ASSIGN(ServiceConfig config, Parse(json));
  // Sorted, through the visible links (never ..data or the timestamped directory).
  EXPECT_THAT(config.hubs[0].device_files,
              ::testing::ElementsAre(keys + "/shard-0.json", keys + "/shard-1.json"));
  ASSERT_OK_AND_ASSIGN(auto table, BuildIdentityTable(config));
  EXPECT_EQ(table->size(), 2u);

  // A shard added in the next kubelet update is read by the next parse (every reload parses).
  volume.Update({{"shard-0.json", testing::ExportLine("dev-a", "", kKey)},
                 {"shard-1.json", testing::ExportLine("dev-b", "", kKey)},
                 {"shard-2.json", testing::ExportLine("dev-c", "", kKey)}});
  ASSERT_OK_AND_ASSIGN(config, Parse(json));
  ASSERT_OK_AND_ASSIGN(table, BuildIdentityTable(config));
  EXPECT_EQ(table->size(), 3u);

  EXPECT_THAT(Parse(R"({"hubs": [{"host": "h.net", "device_files": ["keys/none-*.json"]}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("hubs[0].device_files[0]"), HasSubstr("matches no file"))));
  EXPECT_THAT(Parse(R"({"hubs": [{"host": "h.net", "device_files": ["k*/shard-0.json"]}]})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("only be in the file name")));
}

TEST_F(ConfigTest, TlsReloadInterval) {
  testing::WriteFile(dir_ + "/devices.json", testing::ExportLine("d", "", kKey));
  ASSERT_OK_AND_ASSIGN(ServiceConfig config, Parse(R"({
    "hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "tls": {"cert_file": "c.pem", "key_file": "k.pem", "reload_interval_seconds": 5}})"));
  EXPECT_EQ(config.server.tls.reload_interval_seconds, 5);
  ASSERT_OK_AND_ASSIGN(config, Parse(R"({
    "hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "tls": {"cert_file": "c.pem", "key_file": "k.pem"}})"));
  EXPECT_EQ(config.server.tls.reload_interval_seconds, 60);
  EXPECT_THAT(Parse(R"({"hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "tls": {"cert_file": "c.pem", "key_file": "k.pem", "reload_interval_seconds": -1}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reload_interval_seconds")));
}

TEST_F(ConfigTest, MetricsListenAndAudit) {
  testing::WriteFile(dir_ + "/devices.json", testing::ExportLine("d", "", kKey));
  ASSERT_OK_AND_ASSIGN(ServiceConfig config, Parse(R"({
    "hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "metrics_listen": "127.0.0.1:9102",
    "audit": {"path": "audit.jsonl", "required": true, "queue_records": 100, "list_ids": 4,
              "stream_interval_seconds": 0.5}})"));
  EXPECT_EQ(config.server.metrics_listen_address, "127.0.0.1:9102");
  ASSERT_TRUE(config.server.audit.has_value());
  EXPECT_EQ(config.server.audit->path, dir_ + "/audit.jsonl");
  EXPECT_TRUE(config.server.audit->required);
  EXPECT_EQ(config.server.audit->queue_records, 100u);
  EXPECT_EQ(config.server.audit->list_ids, 4u);
  EXPECT_EQ(config.server.audit->stream_interval, absl::Milliseconds(500));
  ASSERT_OK_AND_ASSIGN(config, Parse(R"({
    "hubs": [{"host": "h.net", "device_files": ["devices.json"]}], "audit": {"path": "-"}})"));
  EXPECT_EQ(config.server.audit->path, "-");
  EXPECT_FALSE(config.server.audit->required);
  EXPECT_TRUE(config.server.metrics_listen_address.empty());
  EXPECT_THAT(Parse(R"({"hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "audit": {"required": true}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("audit.path")));
  EXPECT_THAT(Parse(R"({"hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "audit": {"path": "a", "sink": "x"}})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sink")));
  EXPECT_THAT(Parse(R"({"hubs": [{"host": "h.net", "device_files": ["devices.json"]}],
    "listen": "127.0.0.1:9000", "metrics_listen": "127.0.0.1:9000"})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metrics listen address")));
}

}  // namespace
}  // namespace sasmint
