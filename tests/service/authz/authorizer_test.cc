#include "service/authz/authorizer.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config.h"
#include "tests/testing/status_matchers.h"

namespace sasmint {
namespace {

using ::sasmint::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEu[] = "eu.azure-devices.net";
constexpr char kUs[] = "us.azure-devices.net";

IdPattern P(absl::string_view text) {
  absl::StatusOr<IdPattern> p = IdPattern::Parse(text);
  EXPECT_THAT(p, IsOk()) << text;
  return p.value_or(IdPattern{});
}

// The example of the task: a gateway for one hub's devices, policy and DPS group, and ops.
std::vector<CallerRule> ExampleRules() {
  CallerRule gateway;
  gateway.name = "gateway-eu";
  gateway.match = CallerMatch::kCommonName;
  gateway.match_value = "gw-eu-1";
  AllowRule devices;
  devices.hub = P(kEu);
  devices.devices = {P("eu-*"), P("plant7-dev1")};
  devices.modules = true;
  AllowRule policies;
  policies.hub = P(kEu);
  policies.policies = {P("device-svc")};
  AllowRule dps;
  dps.id_scope = P("0ne000A1B2C");
  dps.registrations = {P("eu-*")};
  gateway.allow = {devices, policies, dps};

  CallerRule sensors;
  sensors.name = "sensors";
  sensors.match = CallerMatch::kSpiffe;
  sensors.match_value = "spiffe://example.org/ns/iot/sa/sensors";
  AllowRule any_hub;
  any_hub.hub = P("*");
  any_hub.devices = {P("sensor-*")};  // devices only, no modules
  sensors.allow = {any_hub};

  CallerRule by_san;
  by_san.name = "us-gateway";
  by_san.match = CallerMatch::kSan;
  by_san.match_value = "gw.us.example.com";
  AllowRule us;
  us.hub = P(kUs);
  us.devices = {P("*")};
  by_san.allow = {us};

  CallerRule ops;
  ops.name = "ops";
  ops.match = CallerMatch::kCommonName;
  ops.match_value = "ops";
  ops.admin = true;
  return {gateway, sensors, by_san, ops};
}

Authorizer Example() {
  absl::StatusOr<Authorizer> a = Authorizer::Create(ExampleRules());
  EXPECT_THAT(a, IsOk());
  return *std::move(a);
}

CallerIdentity Cert(absl::string_view cn, std::vector<std::string> sans = {},
                    absl::string_view spiffe = "") {
  CallerIdentity id;
  id.authenticated = true;
  id.common_name = std::string(cn);
  id.sans = std::move(sans);
  id.spiffe_id = std::string(spiffe);
  return id;
}

TEST(IdPatternTest, ExactPrefixAndEverything) {
  const IdPattern exact = P("dev1");
  EXPECT_TRUE(exact.Matches("dev1"));
  EXPECT_FALSE(exact.Matches("dev10"));
  EXPECT_FALSE(exact.Matches("dev"));
  EXPECT_FALSE(exact.Matches("DEV1"));  // IDs are case-sensitive
  const IdPattern prefix = P("eu-*");
  EXPECT_TRUE(prefix.Matches("eu-"));
  EXPECT_TRUE(prefix.Matches("eu-17"));
  EXPECT_FALSE(prefix.Matches("eu"));
  EXPECT_FALSE(prefix.Matches("us-eu-1"));
  const IdPattern all = P("*");
  EXPECT_TRUE(all.Matches("anything"));
  EXPECT_TRUE(all.Matches(""));

  EXPECT_FALSE(IdPattern::Parse("").ok());
  EXPECT_THAT(IdPattern::Parse("eu-*-dev").status().message(), HasSubstr("'*' may only end"));
  EXPECT_FALSE(IdPattern::Parse("**").ok());
}

TEST(AuthorizerTest, MatchesByCommonNameSanAndSpiffeInOrder) {
  const Authorizer a = Example();
  ASSERT_TRUE(a.enabled());
  EXPECT_EQ(a.Match(Cert("gw-eu-1"))->name, "gateway-eu");
  EXPECT_EQ(a.Match(Cert("ops"))->name, "ops");
  EXPECT_EQ(a.Match(Cert("", {"other.example.com", "gw.us.example.com"}))->name, "us-gateway");
  EXPECT_EQ(a.Match(Cert("x", {}, "spiffe://example.org/ns/iot/sa/sensors"))->name, "sensors");
  // First match by config order: a certificate fitting two rules gets the first.
  EXPECT_EQ(a.Match(Cert("ops", {"gw.us.example.com"}))->name, "us-gateway");
  EXPECT_EQ(a.Match(Cert("gw-eu-2")), nullptr);
  EXPECT_EQ(a.Match(Cert("GW-EU-1")), nullptr);
  EXPECT_EQ(a.Match(Cert("", {}, "spiffe://example.org/ns/iot/sa/sensors/x")), nullptr);
  // A SAN is not a common name, nor the reverse.
  EXPECT_EQ(a.Match(Cert("gw.us.example.com")), nullptr);
  EXPECT_EQ(a.Match(Cert("", {"gw-eu-1"})), nullptr);
  // Without a verified certificate only an anonymous rule matches, whatever names are set.
  CallerIdentity unverified = Cert("ops");
  unverified.authenticated = false;
  EXPECT_EQ(a.Match(unverified), nullptr);
  EXPECT_EQ(a.Match(CallerIdentity{}), nullptr);

  std::vector<CallerRule> with_anonymous = ExampleRules();
  CallerRule anonymous;
  anonymous.name = "local";
  anonymous.match = CallerMatch::kAnonymous;
  with_anonymous.push_back(anonymous);
  absl::StatusOr<Authorizer> b = Authorizer::Create(with_anonymous);
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->Match(CallerIdentity{})->name, "local");
  EXPECT_EQ(b->Match(Cert("unknown")), nullptr);  // anonymous means no certificate
}

TEST(AuthorizerTest, DeviceAndModuleScopes) {
  const Authorizer a = Example();
  const CallerRule* gw = a.Match(Cert("gw-eu-1"));
  ASSERT_NE(gw, nullptr);
  EXPECT_THAT(Authorize(gw, TokenScope::Device(kEu, "eu-1")), IsOk());
  EXPECT_THAT(Authorize(gw, TokenScope::Device(kEu, "plant7-dev1")), IsOk());
  EXPECT_THAT(Authorize(gw, TokenScope::Module(kEu, "eu-1", "edgeAgent")), IsOk());
  EXPECT_THAT(AuthorizeIdentity(gw, kEu, "eu-2", ""), IsOk());
  EXPECT_THAT(AuthorizeIdentity(gw, kEu, "eu-2", "m"), IsOk());
  for (const TokenScope& denied :
       {TokenScope::Device(kEu, "us-1"), TokenScope::Device(kEu, "plant7-dev10"),
        TokenScope::Device(kUs, "eu-1"), TokenScope::Module(kEu, "us-1", "m"),
        TokenScope::Module(kEu, "eu-1", "")}) {
    const absl::Status s = Authorize(gw, denied);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << ResourceUri(denied);
    EXPECT_THAT(s.message(), HasSubstr("caller 'gateway-eu' may not mint for"));
    // Names the identity, never whether it exists.
    EXPECT_THAT(s.message(), HasSubstr(denied.device_id.empty() ? "''" : denied.device_id));
    EXPECT_THAT(s.message(), Not(HasSubstr("not found")));
    EXPECT_THAT(s.message(), Not(HasSubstr("exist")));
  }
  // Devices without "modules": module tokens are refused.
  const CallerRule* sensors = a.Match(Cert("", {}, "spiffe://example.org/ns/iot/sa/sensors"));
  ASSERT_NE(sensors, nullptr);
  EXPECT_THAT(Authorize(sensors, TokenScope::Device(kEu, "sensor-1")), IsOk());
  EXPECT_THAT(Authorize(sensors, TokenScope::Device(kUs, "sensor-1")), IsOk());  // hub "*"
  const absl::Status module = Authorize(sensors, TokenScope::Module(kEu, "sensor-1", "m"));
  EXPECT_EQ(module.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(module.message(), HasSubstr("module 'm' of device 'sensor-1' of hub '"));
  // An admin rule without allow entries mints nothing.
  EXPECT_EQ(Authorize(a.Match(Cert("ops")), TokenScope::Device(kEu, "eu-1")).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizerTest, PolicyScopesAndDevicePolicyHubs) {
  const Authorizer a = Example();
  const CallerRule* gw = a.Match(Cert("gw-eu-1"));
  EXPECT_THAT(Authorize(gw, TokenScope::Policy(kEu, "device-svc")), IsOk());
  EXPECT_THAT(Authorize(gw, TokenScope::Policy(kEu, "device-svc", "devices/eu-1")), IsOk());
  EXPECT_EQ(Authorize(gw, TokenScope::Policy(kEu, "iothubowner")).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Authorize(gw, TokenScope::Policy(kUs, "device-svc")).code(),
            absl::StatusCode::kPermissionDenied);
  // A hub whose device tokens are signed with its device policy: a device token is authorized
  // by its device ID (the scope it grants), not by the policy that signs it; and device IDs do
  // not grant the policy's own, hub-wide token.
  CallerRule devices_only;
  devices_only.name = "d";
  devices_only.match_value = "d";
  AllowRule allow;
  allow.hub = P(kEu);
  allow.devices = {P("eu-*")};
  devices_only.allow = {allow};
  auto b = Authorizer::Create({devices_only});
  ASSERT_THAT(b, IsOk());
  const CallerRule* d = b->Match(Cert("d"));
  EXPECT_THAT(Authorize(d, TokenScope::Device(kEu, "eu-1")), IsOk());
  EXPECT_EQ(Authorize(d, TokenScope::Policy(kEu, "device")).code(),
            absl::StatusCode::kPermissionDenied);
  // And a policy grant is not a device grant.
  CallerRule policy_only = devices_only;
  policy_only.allow[0].devices.clear();
  policy_only.allow[0].policies = {P("device")};
  auto c = Authorizer::Create({policy_only});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(Authorize(c->Match(Cert("d")), TokenScope::Device(kEu, "eu-1")).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizerTest, DpsRegistrationScopes) {
  const Authorizer a = Example();
  const CallerRule* gw = a.Match(Cert("gw-eu-1"));
  EXPECT_THAT(Authorize(gw, TokenScope::Registration("0ne000A1B2C", "eu-7")), IsOk());
  const absl::Status other = Authorize(gw, TokenScope::Registration("0ne000A1B2C", "us-7"));
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.message(), HasSubstr("registration 'us-7' of ID scope '0ne000A1B2C'"));
  EXPECT_EQ(Authorize(gw, TokenScope::Registration("0ne000FFFFF", "eu-7")).code(),
            absl::StatusCode::kPermissionDenied);
  // A DPS grant is not a hub grant of the same IDs.
  EXPECT_EQ(Authorize(gw, TokenScope::Device("0ne000A1B2C", "eu-7")).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthorizerTest, DisabledAllowsEverythingAndNullCallerNothing) {
  const Authorizer off = Authorizer::Disabled();
  EXPECT_FALSE(off.enabled());
  const CallerRule* any = off.Match(CallerIdentity{});
  ASSERT_EQ(any, Authorizer::Unrestricted());
  EXPECT_THAT(Authorize(any, TokenScope::Device(kEu, "x")), IsOk());
  EXPECT_THAT(Authorize(any, TokenScope::Policy(kEu, "iothubowner")), IsOk());
  EXPECT_THAT(Authorize(any, TokenScope::Registration("0ne000A1B2C", "r")), IsOk());
  EXPECT_THAT(AuthorizeAdmin(any), IsOk());
  EXPECT_EQ(Authorize(nullptr, TokenScope::Device(kEu, "x")).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeIdentity(nullptr, kEu, "x", "").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AuthorizeAdmin(nullptr).code(), absl::StatusCode::kPermissionDenied);

  const Authorizer a = Example();
  EXPECT_THAT(AuthorizeAdmin(a.Match(Cert("ops"))), IsOk());
  const absl::Status not_admin = AuthorizeAdmin(a.Match(Cert("gw-eu-1")));
  EXPECT_EQ(not_admin.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(not_admin.message(), HasSubstr("admin: true"));
}

TEST(AuthorizerTest, CreateRejectsInconsistentRules) {
  const auto error = [](std::vector<CallerRule> rules) {
    absl::StatusOr<Authorizer> a = Authorizer::Create(std::move(rules));
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(a.status().message());
  };
  EXPECT_THAT(error({}), HasSubstr("must not be empty"));
  std::vector<CallerRule> rules = ExampleRules();
  rules[1].name = "gateway-eu";
  EXPECT_THAT(error(rules), HasSubstr("callers[1].name: caller 'gateway-eu' is configured twice"));
  rules = ExampleRules();
  rules[3].match_value = "gw-eu-1";
  EXPECT_THAT(error(rules), HasSubstr("callers[3].match: same as callers[0]"));
  rules = ExampleRules();
  rules[1].match_value = "https://example.org/x";
  EXPECT_THAT(error(rules), HasSubstr("callers[1].match.spiffe: must start with \"spiffe://\""));
  rules = ExampleRules();
  rules[0].allow[0].id_scope = P("0ne000A1B2C");
  EXPECT_THAT(error(rules), HasSubstr("callers[0].allow[0]: give exactly one of \"hub\""));
  rules = ExampleRules();
  rules[0].allow[1].policies.clear();
  EXPECT_THAT(error(rules), HasSubstr("callers[0].allow[1]: grants nothing"));
  rules = ExampleRules();
  rules[0].allow[0].devices = {P("bad/id*")};
  EXPECT_THAT(error(rules), HasSubstr("callers[0].allow[0].devices[0]: device ID"));
  rules = ExampleRules();
  rules[0].allow[2].registrations = {P("bad!")};
  EXPECT_THAT(error(rules), HasSubstr("callers[0].allow[2].registrations[0]"));
  rules = ExampleRules();
  rules[0].allow[0].hub = P("not a host");
  EXPECT_THAT(error(rules), HasSubstr("callers[0].allow[0].hub"));
}

absl::Status ParseCallers(absl::string_view callers) {
  return ParseConfig(absl::StrCat(R"({"callers": )", callers, "}"), "cfg.json", "").status();
}

TEST(AuthorizerConfigTest, ParsesTheExampleAndNamesThePathOfErrors) {
  auto config = ParseConfig(
      R"({"callers": [
        {"name": "gateway-eu", "match": {"common_name": "gw-eu-1"},
         "allow": [{"hub": "eu.azure-devices.net", "devices": ["eu-*", "plant7-dev1"],
                    "modules": true},
                   {"hub": "eu.azure-devices.net", "policies": ["device-svc"]},
                   {"id_scope": "0ne000A1B2C", "registrations": ["eu-*"]}],
         "admin": false},
        {"name": "ops", "match": {"common_name": "ops"}, "admin": true},
        {"name": "mesh", "match": {"spiffe": "spiffe://example.org/gw"},
         "allow": [{"hub": "*", "devices": ["*"]}]},
        {"name": "dns", "match": {"san": "gw.example.com"},
         "allow": [{"hub": "us.*", "devices": ["a"]}]},
        {"name": "local", "match": {"anonymous": true}}]})",
      "cfg.json", "");
  ASSERT_THAT(config, IsOk());
  ASSERT_NE(config->server.authorizer, nullptr);
  const Authorizer& a = *config->server.authorizer;
  ASSERT_EQ(a.rules().size(), 5u);
  const CallerRule* gw = a.Match(Cert("gw-eu-1"));
  ASSERT_NE(gw, nullptr);
  EXPECT_THAT(Authorize(gw, TokenScope::Module(kEu, "plant7-dev1", "m")), IsOk());
  EXPECT_THAT(Authorize(gw, TokenScope::Registration("0ne000A1B2C", "eu-1")), IsOk());
  EXPECT_TRUE(a.Match(Cert("ops"))->admin);
  EXPECT_THAT(Authorize(a.Match(Cert("", {"gw.example.com"})), TokenScope::Device(kUs, "a")),
              IsOk());
  EXPECT_EQ(a.Match(CallerIdentity{})->name, "local");

  // No callers section: authorization off.
  auto open = ParseConfig(R"({"listen": "127.0.0.1:1"})", "cfg.json", "");
  ASSERT_THAT(open, IsOk());
  EXPECT_EQ(open->server.authorizer, nullptr);

  const struct {
    const char* callers;
    const char* message;
  } kCases[] = {
      {R"({})", "cfg.json: callers: must be an array"},
      {R"([])", "cfg.json: callers: must not be empty"},
      {R"([{"match": {"common_name": "a"}}])", "cfg.json: callers[0]: missing \"name\""},
      {R"([{"name": "a"}])", "cfg.json: callers[0]: missing \"match\""},
      {R"([{"name": "a", "match": {"common_name": "a", "san": "b"}}])",
       "callers[0].match: give exactly one of"},
      {R"([{"name": "a", "match": {"cn": "a"}}])", "callers[0].match: unknown option \"cn\""},
      {R"([{"name": "a", "match": {"common_name": ""}}])", "callers[0].match: the value"},
      {R"([{"name": "a", "match": {"anonymous": false}}])",
       "callers[0].match.anonymous: must be true"},
      {R"([{"name": "a", "match": {"common_name": "a"}, "alow": []}])",
       "callers[0]: unknown option \"alow\""},
      {R"([{"name": "a", "match": {"common_name": "a"}, "admin": "yes"}])",
       "callers[0].admin: must be true or false"},
      {R"([{"name": "a", "match": {"common_name": "a"}, "allow": [{"devices": ["x"]}]}])",
       "callers[0].allow[0]: give exactly one of \"hub\""},
      {R"([{"name": "a", "match": {"common_name": "a"},
            "allow": [{"hub": "h.net", "devices": "x"}]}])",
       "callers[0].allow[0].devices: must be an array"},
      {R"([{"name": "a", "match": {"common_name": "a"},
            "allow": [{"hub": "h.net", "devices": []}]}])",
       "callers[0].allow[0].devices: must not be empty"},
      {R"([{"name": "a", "match": {"common_name": "a"},
            "allow": [{"hub": "h.net", "devices": ["x", "a*b"]}]}])",
       "callers[0].allow[0].devices[1]: '*' may only end a pattern"},
      {R"([{"name": "a", "match": {"common_name": "a"},
            "allow": [{"hub": "h.net", "policies": ["p"], "modules": true}]}])",
       "callers[0].allow[0]: \"modules\" needs \"devices\""},
      {R"([{"name": "a", "match": {"common_name": "a"},
            "allow": [{"id_scope": "0ne000A1B2C", "devices": ["x"]}]}])",
       "callers[0].allow[0]: \"devices\", \"modules\" and \"policies\" go with \"hub\""},
      {R"([{"name": "a", "match": {"common_name": "a"},
            "allow": [{"hub": "h.net", "devices": ["x"], "registrations": ["r"]}]}])",
       "callers[0].allow[0]: \"registrations\" goes with \"id_scope\""},
      {R"([{"name": "a", "match": {"common_name": "a"}},
           {"name": "b", "match": {"spiffe": "http://x"}}])",
       "callers[1].match.spiffe: must start with"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.callers);
    const absl::Status s = ParseCallers(c.callers);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

TEST(AuthorizerConfigTest, TlsAndHealthListen) {
  auto config = ParseConfig(R"({"tls": {"cert_file": "tls.crt", "key_file": "/abs/tls.key",
                                         "client_ca_file": "ca.crt"},
                                "health_listen": "0.0.0.0:8081"})",
                            "cfg.json", "/etc/sasmint");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->server.tls.cert_file, "/etc/sasmint/tls.crt");
  EXPECT_EQ(config->server.tls.key_file, "/abs/tls.key");
  EXPECT_EQ(config->server.tls.client_ca_file, "/etc/sasmint/ca.crt");
  EXPECT_TRUE(config->server.tls.requires_client_cert());  // the default with a client CA
  EXPECT_EQ(config->server.health_listen_address, "0.0.0.0:8081");

  auto optional = ParseConfig(R"({"tls": {"cert_file": "c", "key_file": "k",
                                           "client_ca_file": "ca", "require_client_cert": false}})",
                              "cfg.json", "");
  ASSERT_THAT(optional, IsOk());
  EXPECT_FALSE(optional->server.tls.requires_client_cert());

  const struct {
    const char* json;
    const char* message;
  } kCases[] = {
      {R"({"tls": {"cert_file": "c"}})", "cfg.json: tls: cert_file and key_file go together"},
      {R"({"tls": {"client_ca_file": "ca"}})", "tls: client_ca_file needs cert_file"},
      {R"({"tls": {"cert_file": "c", "key_file": "k", "require_client_cert": true}})",
       "tls: require_client_cert needs client_ca_file"},
      {R"({"tls": {"cert": "c"}})", "tls: unknown option \"cert\""},
      {R"({"tls": {"cert_file": ""}})", "tls.cert_file: must not be empty"},
      {R"({"health_listen": 8081})", "health_listen: must be a string"},
      {R"({"listen": "127.0.0.1:5", "health_listen": "127.0.0.1:5"})",
       "health_listen: health listen address must differ"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.json);
    const absl::Status s = ParseConfig(c.json, "cfg.json", "").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

// The per-item cost on the batch path: an allowed device of a caller with a few rules.
TEST(AuthorizerTest, AllowedItemCostsNanoseconds) {
  const Authorizer a = Example();
  const CallerRule* gw = a.Match(Cert("gw-eu-1"));
  const std::string hub = kEu;
  // Half match the first pattern, half the second (exact) one.
  std::vector<std::string> devices;
  for (int i = 0; i < 1000; ++i) devices.push_back(i % 2 ? "plant7-dev1" : absl::StrCat("eu-", i));
  constexpr int kRounds = 2000;
  int allowed = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < kRounds; ++r) {
    for (const std::string& d : devices) allowed += AuthorizeIdentity(gw, hub, d, "").ok();
  }
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
      (kRounds * devices.size());
  EXPECT_EQ(allowed, kRounds * 1000);
  std::printf("AuthorizeIdentity, allowed item: %.1f ns\n", ns);
  EXPECT_LT(ns, 1000.0);  // a loose bound: sanitizer and debug builds run here too
}

}  // namespace
}  // namespace sasmint
