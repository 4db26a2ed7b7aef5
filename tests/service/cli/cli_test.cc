// Tests of the `sasmint` binary as users and scripts run it: real processes, real files, a real
// server on a loopback port. SASMINT_BIN names the binary (set by CMake).
#include <openssl/sha.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_certificate.h"
#include "tests/testing/test_identities.h"
#include "tests/testing/vector_file.h"

namespace sasmint {
namespace {

using ::sasmint::testing::ChildProcess;
using ::sasmint::testing::IsOk;
using ::sasmint::testing::ProcessResult;
using ::sasmint::testing::RunProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kKey = testing::kTestKey;
constexpr char kHub[] = "iot-hub-for-test.azure-devices.net";

std::string Bin() {
  const char* bin = std::getenv("SASMINT_BIN");
  return bin != nullptr ? bin : "sasmint";
}

ProcessResult Sasmint(std::vector<std::string> args) {
  args.insert(args.begin(), Bin());
  auto result = RunProcess(args);
  EXPECT_THAT(result, IsOk());
  return result.value_or(ProcessResult{});
}

// ExpectUsageError checks the contract for bad input: exit code 2, nothing on stdout, exactly
// one line on stderr that contains `message`.
void ExpectUsageError(const ProcessResult& r, absl::string_view message) {
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr(message));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CliTokenTest, EveryPublishedTokenVectorByteForByte) {
  auto blocks = testing::ReadVectorFile(testing::TestDataPath("sas_tokens.txt"));
  ASSERT_THAT(blocks, IsOk());
  int checked = 0;
  for (const auto& block : *blocks) {
    const std::string kind = block.GetOr("Kind", "");
    if (kind != "device" && kind != "policy" && kind != "derive") continue;
    SCOPED_TRACE(block.source);
    ProcessResult r;
    if (kind == "derive") {
      r = Sasmint({"derive-key", "--group-key", block.GetOr("GroupKey", ""), "--registration",
                   block.GetOr("Registration", "")});
      EXPECT_EQ(r.out, block.GetOr("DerivedKey", "") + "\n");
    } else {
      std::vector<std::string> args = {"token",
                                       "--hub",
                                       block.GetOr("Hub", ""),
                                       "--key",
                                       block.GetOr("Key", ""),
                                       "--expiry",
                                       block.GetOr("Expiry", "")};
      if (kind == "device") {
        args.insert(args.end(), {"--device", block.GetOr("Device", "")});
      } else {
        args.insert(args.end(), {"--policy", block.GetOr("Policy", "")});
        if (block.Has("Resource"))
          args.insert(args.end(), {"--resource", block.GetOr("Resource", "")});
      }
      r = Sasmint(args);
      EXPECT_EQ(r.out, block.GetOr("Token", "") + "\n");
    }
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    ++checked;
  }
  EXPECT_GE(checked, 5);
}

TEST(CliTokenTest, FlagEqualsValueFormsAndIdsStartingWithDash) {
  const ProcessResult spaced = Sasmint(
      {"token", "--hub", kHub, "--device", "-dev", "--key", kKey, "--expiry", "1471940363"});
  const ProcessResult equals = Sasmint({"token", "--hub=" + std::string(kHub), "--device=-dev",
                                        std::string("--key=") + kKey, "--expiry=1471940363"});
  ASSERT_EQ(spaced.exit_code, 0) << spaced.err;
  EXPECT_EQ(spaced.out, equals.out);
  EXPECT_THAT(spaced.out, StartsWith(absl::StrCat("SharedAccessSignature sr=", kHub,
                                                  "%2Fdevices%2F-dev&sig=")));
  const ProcessResult module = Sasmint({"token", "--hub", kHub, "--device", "d", "--module", "m",
                                        "--key", kKey, "--expiry", "1471940363"});
  EXPECT_THAT(module.out, HasSubstr("%2Fdevices%2Fd%2Fmodules%2Fm&sig="));
  const ProcessResult dps = Sasmint({"token", "--id-scope", "0ne00000001", "--registration",
                                     "reg-1", "--key", kKey, "--expiry", "1471940363"});
  EXPECT_EQ(dps.exit_code, 0) << dps.err;
  EXPECT_THAT(dps.out,
              StartsWith("SharedAccessSignature sr=0ne00000001%2Fregistrations%2Freg-1&sig="));
  EXPECT_THAT(dps.out, HasSubstr("&se=1471940363&skn=registration\n"));
}

TEST(CliTokenTest, TtlIsRelativeToNow) {
  const ProcessResult r =
      Sasmint({"token", "--hub", kHub, "--device", "d", "--key", kKey, "--ttl", "600", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t at = r.out.find("\"expires_at\":");
  ASSERT_NE(at, std::string::npos) << r.out;
  const int64_t expiry = std::strtoll(r.out.c_str() + at + 13, nullptr, 10);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  EXPECT_GE(expiry, now + 590);
  EXPECT_LE(expiry, now + 601);
}

TEST(CliTokenTest, BadInputIsOneLineAndExitCodeTwo) {
  const std::string long_id(129, 'a');
  const std::string max_id(128, 'a');
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"token", "--hub", kHub, "--device", "d", "--key", "not base64!", "--expiry", "1"},
       "--key is not valid base64"},
      {{"token", "--hub", kHub, "--device", "d", "--key", "c2hvcnQ=", "--expiry", "1"},
       "decodes to 5 bytes"},
      {{"token", "--hub", kHub, "--device", "", "--key", kKey, "--expiry", "1"},
       "device ID is empty"},
      {{"token", "--hub", kHub, "--device", long_id, "--key", kKey, "--expiry", "1"},
       "129 characters long"},
      {{"token", "--hub", kHub, "--device", "a/b", "--key", kKey, "--expiry", "1"},
       "'/' at offset 1, which IoT Hub does not allow"},
      {{"token", "--hub", kHub, "--device", "caf\xC3\xA9", "--key", kKey, "--expiry", "1"},
       "byte 0xc3"},
      {{"token", "--hub", kHub, "--device", "d", "--key", kKey}, "no expiry"},
      {{"token", "--hub", kHub, "--device", "d", "--key", kKey, "--expiry", "soon"},
       "--expiry must be an integer"},
      {{"token", "--hub", kHub, "--device", "d", "--key", kKey, "--expiry", "1", "--ttl", "5"},
       "not both"},
      {{"token", "--hub", kHub, "--device", "d", "--expiry", "1"}, "missing --key"},
      {{"token", "--device", "d", "--key", kKey, "--expiry", "1"}, "missing --hub"},
      {{"token", "--hub", kHub, "--device", "d", "--key", kKey, "--expiry", "1", "--bogus", "x"},
       "unknown flag --bogus"},
      {{"token", "--hub", kHub, "--device", "d", "--device", "e", "--key", kKey, "--expiry", "1"},
       "given twice"},
      {{"token", "--hub", kHub, "--device"}, "needs a value"},
      {{"token", "--hub", "bad host", "--device", "d", "--key", kKey, "--expiry", "1"},
       "hub host name"},
      {{"derive-key", "--group-key", "%%%%", "--registration", "r"}, "--group-key is not valid"},
      {{"derive-key", "--group-key", kKey, "--registration", "bad id!"}, "registration ID"},
      {{"derive-key", "--group-key", kKey}, "missing --registration"},
      {{"mint", "--hub", kHub, "--device", "d"}, "missing --server"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    const ProcessResult r = Sasmint(c.args);
    ExpectUsageError(r, c.message);
    // Errors about the key never echo it.
    EXPECT_THAT(r.err, Not(HasSubstr(kKey)));
  }
  const ProcessResult ok_128 =
      Sasmint({"token", "--hub", kHub, "--device", max_id, "--key", kKey, "--expiry", "1"});
  EXPECT_EQ(ok_128.exit_code, 0) << ok_128.err;
}

TEST(CliTokenTest, UnknownCommandAndHelp) {
  ExpectUsageError(Sasmint({"frobnicate"}), "unknown command");
  const ProcessResult help = Sasmint({"help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("derive-key"));
}

std::string ExportLine(absl::string_view id, absl::string_view module = "") {
  return testing::ExportLine(id, module, kKey, kKey);
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }

  // StartServer runs `sasmint serve ARGS --listen 127.0.0.1:0 --port-file F` and returns the
  // port once it is listening.
  std::string StartServer(std::vector<std::string> args) {
    const std::string port_file = dir_ + "/port";
    args.insert(args.begin(), {Bin(), "serve"});
    args.insert(args.end(), {"--listen", "127.0.0.1:0", "--port-file", port_file});
    auto child = ChildProcess::Start(args, dir_);
    EXPECT_THAT(child, IsOk());
    server_.emplace(*std::move(child));
    auto port = testing::WaitForFile(port_file, absl::Seconds(30));
    EXPECT_THAT(port, IsOk()) << server_->ReadStderr();
    return std::string(absl::StripAsciiWhitespace(port.value_or("0")));
  }

  std::string dir_;
  std::optional<ChildProcess> server_;
};

TEST_F(ServeTest, MintOverGrpcEqualsOfflineTokenAndStopsCleanlyOnSigterm) {
  const std::string devices = dir_ + "/devices.json";
  testing::WriteFile(devices, ExportLine("dev1") + ExportLine("dev1", "m1") + ExportLine("-dash"));
  const std::string port = StartServer({"--hub", kHub, "--devices", devices});
  const std::string server = "127.0.0.1:" + port;

  for (const std::vector<std::string>& who :
       {std::vector<std::string>{"--device", "dev1"},
        std::vector<std::string>{"--device", "dev1", "--module", "m1"},
        std::vector<std::string>{"--device=-dash"}}) {
    std::vector<std::string> args = {"mint", "--server", server, "--hub",
                                     kHub,   "--ttl",    "900",  "--json"};
    args.insert(args.end(), who.begin(), who.end());
    const ProcessResult minted = Sasmint(args);
    ASSERT_EQ(minted.exit_code, 0) << minted.err;
    const size_t at = minted.out.find("\"expires_at\":");
    ASSERT_NE(at, std::string::npos);
    const std::string expiry =
        absl::StrCat(std::strtoll(minted.out.c_str() + at + 13, nullptr, 10));
    std::vector<std::string> offline = {"token", "--hub", kHub, "--key", kKey, "--expiry", expiry};
    offline.insert(offline.end(), who.begin(), who.end());
    const ProcessResult expected = Sasmint(offline);
    ASSERT_EQ(expected.exit_code, 0) << expected.err;
    const std::string token(absl::StripSuffix(expected.out, "\n"));
    EXPECT_THAT(minted.out, HasSubstr(absl::StrCat("{\"token\":\"", token, "\"")));
  }
  // Plain output is the token alone on one line.
  const ProcessResult plain =
      Sasmint({"mint", "--server", server, "--hub", kHub, "--device", "dev1"});
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_THAT(plain.out, StartsWith("SharedAccessSignature sr="));
  EXPECT_EQ(std::count(plain.out.begin(), plain.out.end(), '\n'), 1);

  const ProcessResult unknown =
      Sasmint({"mint", "--server", server, "--hub", kHub, "--device", "ghost"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));

  server_->Signal(SIGTERM);
  auto code = server_->Wait(absl::Seconds(20));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0);
  const std::string log = server_->ReadStderr();
  EXPECT_THAT(log, HasSubstr(R"("msg":"serving")"));
  EXPECT_THAT(log, HasSubstr(R"("msg":"stopped")"));
  EXPECT_THAT(log, HasSubstr("every caller may mint for every identity"));
  EXPECT_THAT(log, Not(HasSubstr(kKey)));
  // Every log line is one JSON object.
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    EXPECT_THAT(std::string(line), StartsWith("{\"ts\":"));
    EXPECT_EQ(line.back(), '}');
  }
}

TEST_F(ServeTest, DemoServesItsDevicesOnLoopbackAndStopsOnSigint) {
  const std::string port = StartServer({"--demo"});
  const ProcessResult r = Sasmint({"mint", "--server", "127.0.0.1:" + port, "--hub",
                                   "sasmint-demo.azure-devices.net", "--device", "demo-device-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              StartsWith("SharedAccessSignature "
                         "sr=sasmint-demo.azure-devices.net%2Fdevices%2Fdemo-device-1&sig="));
  const ProcessResult disabled =
      Sasmint({"mint", "--server", "127.0.0.1:" + port, "--hub", "sasmint-demo.azure-devices.net",
               "--device", "demo-disabled"});
  EXPECT_EQ(disabled.exit_code, 1);
  EXPECT_THAT(disabled.err, HasSubstr("FAILED_PRECONDITION"));
  server_->Signal(SIGINT);
  auto code = server_->Wait(absl::Seconds(20));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0);
}

TEST_F(ServeTest, HealthReportsReadinessAndLivenessAndFailsFastWhenUnreachable) {
  const std::string port = StartServer({"--demo"});
  const std::string server = "127.0.0.1:" + port;
  for (const std::string service : {"", "sasmint.v1.TokenService", "liveness"}) {
    const ProcessResult r = Sasmint({"health", "--server", server, "--service", service});
    EXPECT_EQ(r.exit_code, 0) << service << ": " << r.err;
    EXPECT_EQ(r.out, "SERVING\n");
  }
  const ProcessResult unknown = Sasmint({"health", "--server", server, "--service", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(Sasmint({"health"}).exit_code, 2);
  server_->Signal(SIGTERM);
  ASSERT_THAT(server_->Wait(absl::Seconds(20)), IsOk());
  // Nothing listens now: a probe fails within its timeout instead of waiting for the server.
  const absl::Time start = absl::Now();
  const ProcessResult gone = Sasmint({"health", "--server", server, "--timeout", "3"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3.5));
}

TEST_F(ServeTest, ConfigFileServesPoliciesAndDpsAndCheckConfigValidatesIt) {
  constexpr const char* kGroupKey = testing::kTestGroupKey;
  testing::WriteFile(dir_ + "/devices.json", ExportLine("dev1"));
  testing::WriteFile(dir_ + "/owner.key", std::string(kKey) + "\n");
  const std::string config = dir_ + "/sasmint.json";
  testing::WriteFile(config, absl::StrCat(R"({"hubs": [{"host": ")", kHub,
                                          R"(", "device_files": ["devices.json"], "policies": [
      {"name": "iothubowner", "rights": ["RegistryWrite", "ServiceConnect", "DeviceConnect"],
       "primary_key_file": "owner.key"}]}],
    "dps": [{"id_scope": "0ne00000001", "groups": [{"name": "g", "primary_key": ")",
                                          kGroupKey, R"("}]}]})"));
  const ProcessResult check = Sasmint({"serve", "--check-config", config});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_THAT(check.out,
              HasSubstr("OK: 1 hubs, 1 identities, 1 policies, 1 DPS enrollment groups"));

  const std::string port = StartServer({"--config", config});
  const std::string server = "127.0.0.1:" + port;
  const ProcessResult policy =
      Sasmint({"mint", "--server", server, "--hub", kHub, "--policy", "iothubowner", "--json"});
  ASSERT_EQ(policy.exit_code, 0) << policy.err;
  const size_t at = policy.out.find("\"expires_at\":");
  ASSERT_NE(at, std::string::npos);
  const std::string expiry = absl::StrCat(std::strtoll(policy.out.c_str() + at + 13, nullptr, 10));
  const ProcessResult offline = Sasmint(
      {"token", "--hub", kHub, "--policy", "iothubowner", "--key", kKey, "--expiry", expiry});
  EXPECT_THAT(policy.out,
              HasSubstr(absl::StrCat("{\"token\":\"", absl::StripSuffix(offline.out, "\n"), "\"")));

  const ProcessResult dps = Sasmint({"mint", "--server", server, "--id-scope", "0ne00000001",
                                     "--registration", "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6"});
  EXPECT_EQ(dps.exit_code, 0) << dps.err;
  EXPECT_THAT(dps.out, StartsWith("SharedAccessSignature sr=0ne00000001%2Fregistrations%2Fsn-007"));
  const ProcessResult unknown_policy =
      Sasmint({"mint", "--server", server, "--hub", kHub, "--policy", "nope"});
  EXPECT_EQ(unknown_policy.exit_code, 1);
  EXPECT_THAT(unknown_policy.err, HasSubstr("NOT_FOUND: policy 'nope'"));

  // A broken config is refused before serving, with the JSON path.
  testing::WriteFile(config, R"({"hubs": [{"host": "h.net", "policies": [{"name": "p"}]}]})");
  const ProcessResult bad = Sasmint({"serve", "--check-config", config});
  ExpectUsageError(bad, "hubs[0].policies[0]: needs \"rights\"");
  const ProcessResult bad_serve = Sasmint({"serve", "--config", config, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(bad_serve.exit_code, 2);
  EXPECT_THAT(bad_serve.err, HasSubstr("needs \"rights\""));
}

TEST_F(ServeTest, SigtermUnderLoadLosesNoAcceptedRequest) {
  std::string devices_text;
  for (int i = 0; i < 50; ++i) devices_text += ExportLine(absl::StrCat("dev", i));
  testing::WriteFile(dir_ + "/devices.json", devices_text);
  const std::string port = StartServer({"--hub", kHub, "--devices", dir_ + "/devices.json"});
  auto channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  std::atomic<bool> signalled{false};
  std::atomic<int64_t> ok_calls{0}, ok_after_signal{0};
  absl::Mutex mu;
  std::vector<std::string> lost;  // calls that failed other than by being refused
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      auto stub = v1::TokenService::NewStub(channel);
      v1::MintTokensRequest request;
      for (int i = 0; i < 200; ++i) {
        auto* id = request.add_requests()->mutable_identity();
        id->set_hub(kHub);
        id->set_device_id(absl::StrCat("dev", (t + i) % 50));
      }
      for (int n = 0; n < 100000; ++n) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
        v1::MintTokensResponse response;
        const bool after = signalled.load();
        const grpc::Status s = stub->MintTokens(&context, request, &response);
        if (s.ok()) {
          ++ok_calls;
          if (after) ++ok_after_signal;
          if (response.results_size() != 200 || !response.results(199).has_token()) {
            absl::MutexLock lock(&mu);
            lost.push_back("incomplete response");
          }
          continue;
        }
        // UNAVAILABLE: the server refused the call (shutting down, or gone). Anything else means
        // a call it had accepted was dropped.
        if (s.error_code() != grpc::StatusCode::UNAVAILABLE) {
          absl::MutexLock lock(&mu);
          lost.push_back(absl::StrCat(s.error_code(), ": ", s.error_message(), " after=", after));
        }
        break;
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  signalled = true;
  server_->Signal(SIGTERM);
  for (std::thread& c : callers) c.join();
  // The gateway goes away too; the server would otherwise hold the idle connection open until
  // its grace period ends.
  channel.reset();
  auto code = server_->Wait(absl::Seconds(30));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0);
  EXPECT_GT(ok_calls.load(), 8);
  EXPECT_TRUE(lost.empty()) << absl::StrJoin(lost, "; ");
  EXPECT_THAT(server_->ReadStderr(), HasSubstr(R"("msg":"stopped")"));
}

// ExportLineWithKey is ExportLine with a chosen primary key.
std::string ExportLineWithKey(absl::string_view id, absl::string_view key) {
  return testing::ExportLine(id, "", key);
}

// MintJson mints for `device` and returns {token, expires_at}, or {"", 0} on failure.
std::pair<std::string, std::string> MintJson(const std::string& server, absl::string_view device) {
  const ProcessResult r = Sasmint(
      {"mint", "--server", server, "--hub", kHub, "--device", std::string(device), "--json"});
  if (r.exit_code != 0) return {"", r.err};
  const size_t t = r.out.find("\"token\":\"") + 9;
  const size_t t_end = r.out.find('"', t);
  const size_t e = r.out.find("\"expires_at\":") + 13;
  return {r.out.substr(t, t_end - t), absl::StrCat(std::strtoll(r.out.c_str() + e, nullptr, 10))};
}

std::string OfflineToken(absl::string_view device, absl::string_view key,
                         const std::string& expiry) {
  const ProcessResult r = Sasmint({"token", "--hub", kHub, "--device", std::string(device), "--key",
                                   std::string(key), "--expiry", expiry});
  return std::string(absl::StripSuffix(r.out, "\n"));
}

TEST_F(ServeTest, HotReloadOnAtomicReplaceAndKubernetesSecretSwap) {
  constexpr const char* kNewKey = testing::kTestKey2;
  constexpr char kThirdKey[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  // The export file is mounted the way the kubelet mounts a Secret: devices.json -> ..data/
  // devices.json, ..data -> ..2026_11_28_v1.
  const std::string mount = dir_ + "/secret";
  ASSERT_EQ(mkdir(mount.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((mount + "/..2026_11_28_v1").c_str(), 0755), 0);
  testing::WriteFile(mount + "/..2026_11_28_v1/devices.json",
                     ExportLineWithKey("dev1", kKey) + ExportLineWithKey("dev3", kKey));
  ASSERT_EQ(symlink("..2026_11_28_v1", (mount + "/..data").c_str()), 0);
  ASSERT_EQ(symlink("..data/devices.json", (mount + "/devices.json").c_str()), 0);
  const std::string port = StartServer({"--hub", kHub, "--devices", mount + "/devices.json"});
  const std::string server = "127.0.0.1:" + port;
  {
    const auto [token, expiry] = MintJson(server, "dev1");
    EXPECT_EQ(token, OfflineToken("dev1", kKey, expiry));
  }

  // The kubelet's update: a new timestamped directory, a ..data_tmp link renamed over ..data,
  // the old directory removed. dev1's key changes, dev2 appears, dev3 goes.
  ASSERT_EQ(mkdir((mount + "/..2026_11_28_v2").c_str(), 0755), 0);
  testing::WriteFile(mount + "/..2026_11_28_v2/devices.json",
                     ExportLineWithKey("dev1", kNewKey) + ExportLineWithKey("dev2", kKey));
  ASSERT_EQ(symlink("..2026_11_28_v2", (mount + "/..data_tmp").c_str()), 0);
  const absl::Time swapped = absl::Now();
  ASSERT_EQ(rename((mount + "/..data_tmp").c_str(), (mount + "/..data").c_str()), 0);
  ASSERT_EQ(unlink((mount + "/..2026_11_28_v1/devices.json").c_str()), 0);
  ASSERT_EQ(rmdir((mount + "/..2026_11_28_v1").c_str()), 0);
  absl::Time reloaded = absl::InfiniteFuture();
  while (absl::Now() - swapped < absl::Seconds(10)) {
    const auto [token, expiry] = MintJson(server, "dev1");
    if (!token.empty() && token == OfflineToken("dev1", kNewKey, expiry)) {
      reloaded = absl::Now();
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_NE(reloaded, absl::InfiniteFuture()) << server_->ReadStderr();
  // A changed key is in use within a second of the swap (each probe above costs a process).
  EXPECT_LT(reloaded - swapped, absl::Seconds(1.5));
  EXPECT_EQ(MintJson(server, "dev2").first.empty(), false);
  EXPECT_THAT(MintJson(server, "dev3").second, HasSubstr("NOT_FOUND"));

  // A plain atomic replacement (write a temporary file, rename it over the link) with a broken
  // line fails the reload: the keys loaded last keep serving.
  testing::WriteFile(mount + "/devices.json.tmp", ExportLineWithKey("dev1", kThirdKey) + "{oops\n");
  ASSERT_EQ(rename((mount + "/devices.json.tmp").c_str(), (mount + "/devices.json").c_str()), 0);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline &&
         server_->ReadStderr().find("key reload failed") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string log = server_->ReadStderr();
  EXPECT_THAT(log, HasSubstr("key reload failed; the previous keys keep serving"));
  EXPECT_THAT(log, HasSubstr("devices.json:2: malformed JSON"));
  {
    const auto [token, expiry] = MintJson(server, "dev1");
    EXPECT_EQ(token, OfflineToken("dev1", kNewKey, expiry));
  }
  // Then a good replacement is picked up.
  testing::WriteFile(mount + "/devices.json.tmp", ExportLineWithKey("dev1", kThirdKey));
  ASSERT_EQ(rename((mount + "/devices.json.tmp").c_str(), (mount + "/devices.json").c_str()), 0);
  deadline = absl::Now() + absl::Seconds(10);
  bool third = false;
  while (!third && absl::Now() < deadline) {
    const auto [token, expiry] = MintJson(server, "dev1");
    third = !token.empty() && token == OfflineToken("dev1", kThirdKey, expiry);
    if (!third) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(third);
  EXPECT_THAT(server_->ReadStderr(), HasSubstr(R"("added":"1","changed":"1","removed":"1")"));
  EXPECT_THAT(server_->ReadStderr(), Not(HasSubstr(kNewKey)));
}

TEST(ServeErrorsTest, MalformedExportFailsWithLineNumberAndNeverCrashes) {
  const std::string dir = testing::MakeTempDir();
  const std::string devices = dir + "/devices.json";
  testing::WriteFile(devices, ExportLine("a") + ExportLine("b") + "{\"id\": \"c\", \n");
  const ProcessResult r =
      Sasmint({"serve", "--listen", "127.0.0.1:0", "--hub", kHub, "--devices", devices});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(devices + ":3: malformed JSON"));
  EXPECT_THAT(r.err, Not(HasSubstr(kKey)));

  const ProcessResult missing =
      Sasmint({"serve", "--listen", "127.0.0.1:0", "--hub", kHub, "--devices", dir + "/nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot open"));

  ExpectUsageError(Sasmint({"serve", "--demo", "--listen", "0.0.0.0:0"}), "loopback only");
  ExpectUsageError(Sasmint({"serve", "--listen", "127.0.0.1:0"}), "nothing to serve");
  ExpectUsageError(Sasmint({"serve", "--listen", "127.0.0.1:0", "--hub", kHub}),
                   "--hub and --devices go together");
}

// --- sasmint verify -----------------------------------------------------------------------------

constexpr char kTv5Token[] =
    "SharedAccessSignature sr=iot-hub-for-test.azure-devices.net%2Fdevices%2Fiot-device-for-test"
    "&sig=SIumZ1ACqqPJZ2okHDlW9MSYKykEpqsQY3z6FMOICd4%3D&se=1471940363";
constexpr const char* kOtherKey = testing::kTestKey2;

TEST(CliVerifyTest, OfflinePublishedTokenIsValidThenExpired) {
  const ProcessResult valid = Sasmint({"verify", kTv5Token, "--key", kKey, "--now", "1471940000",
                                       "--hub", kHub, "--device", "iot-device-for-test"});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_EQ(valid.err, "");
  EXPECT_THAT(valid.out, StartsWith("verdict: VALID\nmessage: IoT Hub would accept this token: "
                                    "the signature matches the primary key of --key"));
  EXPECT_THAT(valid.out, HasSubstr("findings: none\n"));

  const ProcessResult json =
      Sasmint({"verify", kTv5Token, "--key", kKey, "--now", "1471940000", "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, StartsWith("{\"verdict\":\"VALID\",\"message\":\"IoT Hub would accept"));
  EXPECT_THAT(json.out, HasSubstr("\"findings\":[]"));
  EXPECT_THAT(json.out, HasSubstr("\"matched_key\":{\"slot\":\"primary\""));
  EXPECT_THAT(json.out, HasSubstr("\"expires_at\":1471940363,\"now\":1471940000"));
  EXPECT_EQ(std::count(json.out.begin(), json.out.end(), '\n'), 1);

  // Past se + 5 minutes (and by default, at the real clock) the hub refuses it: exit code 1.
  for (const std::vector<std::string>& now :
       {std::vector<std::string>{"--now", "1471940664"}, std::vector<std::string>{}}) {
    std::vector<std::string> args = {"verify", kTv5Token, "--key", kKey, "--json"};
    args.insert(args.end(), now.begin(), now.end());
    const ProcessResult expired = Sasmint(args);
    EXPECT_EQ(expired.exit_code, 1) << expired.err;
    EXPECT_THAT(expired.out, StartsWith("{\"verdict\":\"EXPIRED\",\"message\":\"The specified "
                                        "SAS token is expired"));
  }
  // Inside the allowance it is still valid.
  EXPECT_EQ(Sasmint({"verify", kTv5Token, "--key", kKey, "--now", "1471940663"}).exit_code, 0);
  // An unquoted token arrives as two arguments.
  const std::string fields = std::string(kTv5Token).substr(22);
  EXPECT_EQ(
      Sasmint({"verify", "SharedAccessSignature", fields, "--key", kKey, "--now", "1471940000"})
          .exit_code,
      0);
}

TEST(CliVerifyTest, OfflineRejectionsListEveryFindingAndNeverTheKey) {
  std::string token = kTv5Token;
  token.replace(token.find("%3D"), 3, "=");
  const ProcessResult r = Sasmint({"verify", token, "--key", kOtherKey, "--now", "1471950000"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.out, StartsWith("verdict: MALFORMED\nmessage: IoT Hub cannot parse the token"));
  EXPECT_THAT(r.out, HasSubstr("findings:\n  MALFORMED: "));
  EXPECT_THAT(r.out,
              HasSubstr("\n  SIGNATURE_MISMATCH: The specified SAS token has an invalid "
                        "signature. It does not match either the primary or secondary key."));
  EXPECT_THAT(r.out, HasSubstr("\n  EXPIRED: The specified SAS token is expired"));
  EXPECT_THAT(r.out, Not(HasSubstr(kOtherKey)));
  EXPECT_THAT(r.out, Not(HasSubstr(kKey)));

  // .NET-style double encoding of an ID with '+', checked against the intended --device.
  const ProcessResult minted = Sasmint(
      {"token", "--hub", kHub, "--device", "dev+1", "--key", kKey, "--expiry", "1471940363"});
  ASSERT_EQ(minted.exit_code, 0);
  std::string doubled(absl::StripSuffix(minted.out, "\n"));
  doubled.replace(doubled.find("%2B"), 3, "%252B");
  const ProcessResult encoding = Sasmint(
      {"verify", doubled, "--key", kKey, "--now", "1471940000", "--device", "dev+1", "--json"});
  EXPECT_EQ(encoding.exit_code, 1);
  EXPECT_THAT(encoding.out, StartsWith("{\"verdict\":\"ENCODING_MISMATCH\""));
  EXPECT_THAT(encoding.out, HasSubstr("looks for device 'dev%2B1'"));
}

TEST(CliVerifyTest, UsageErrorsExitTwo) {
  const struct {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"verify", "--key", kKey}, "missing TOKEN"},
      {{"verify", kTv5Token}, "give --key B64 (offline) or --server ADDR"},
      {{"verify", kTv5Token, "--key", kKey, "--server", "127.0.0.1:1"}, "not both"},
      {{"verify", kTv5Token, "--server", "127.0.0.1:1", "--now", "5"}, "its own clock"},
      {{"verify", kTv5Token, "--key", kKey, "--right", "Everything"}, "--right must be"},
      {{"verify", kTv5Token, "--key", "c2hvcnQ="}, "decodes to 5 bytes"},
      {{"verify", kTv5Token, "--key", kKey, "extra"}, "unexpected argument 'extra'"},
      {{"verify", "-", "--key", kKey}, "no token on stdin"},
      {{"verify", "--cert", "/nonexistent.pem", "--hub", kHub, "--device", "d",
        "--primary-thumbprint", "AA"},
       "cannot open /nonexistent.pem"},
      {{"verify", "--cert", "x.pem", "--hub", kHub}, "--cert needs --hub HOST and --device ID"},
      {{"verify", "--cert", "x.pem", "--hub", kHub, "--device", "d", "--key", kKey},
       "--key goes with a token"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    const ProcessResult r = Sasmint(c.args);
    ExpectUsageError(r, c.message);
    EXPECT_THAT(r.err, Not(HasSubstr(kKey)));
  }
}

std::string Sha256Hex(const std::string& der) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 32));
}

// WithColons returns lowercase hex with ':' between bytes (as `openssl x509 -fingerprint`).
std::string WithColons(absl::string_view hex) {
  std::vector<std::string> pairs;
  for (size_t i = 0; i < hex.size(); i += 2) pairs.emplace_back(hex.substr(i, 2));
  return absl::AsciiStrToLower(absl::StrJoin(pairs, ":"));
}

TEST(CliVerifyTest, OfflineCertificate) {
  const std::string dir = testing::MakeTempDir();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const testing::TestCertificate cert =
      testing::MakeSelfSignedCertificate("cam", now - 3600, now + 86400);
  const std::string pem = dir + "/cam.pem";
  testing::WriteFile(pem, cert.pem);
  const std::string sha256 = Sha256Hex(cert.der);

  const ProcessResult ok = Sasmint({"verify", "--cert", pem, "--hub", kHub, "--device", "cam",
                                    "--primary-thumbprint", WithColons(sha256)});
  EXPECT_EQ(ok.exit_code, 0) << ok.err << ok.out;
  EXPECT_THAT(ok.out,
              StartsWith("verdict: VALID\nmessage: IoT Hub would accept this certificate "
                         "for device 'cam' (it matches the registered primary thumbprint)"));
  EXPECT_THAT(ok.out, HasSubstr(absl::StrCat(
                          "  SHA-256 thumbprint: ", absl::AsciiStrToUpper(sha256), "\n")));
  EXPECT_THAT(ok.out, HasSubstr("  subject: CN=cam\n"));

  const ProcessResult mismatch = Sasmint({"verify", "--cert", pem, "--hub", kHub, "--device", "cam",
                                          "--primary-thumbprint", "AA:BB", "--json"});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_THAT(mismatch.out,
              StartsWith("{\"verdict\":\"THUMBPRINT_MISMATCH\",\"message\":\"Thumbprint does not "
                         "match configuration: Thumbprint: SHA1Hash="));
  EXPECT_THAT(mismatch.out, HasSubstr(absl::StrCat("\"sha256_thumbprint\":\"",
                                                   absl::AsciiStrToUpper(sha256), "\"")));

  const ProcessResult expired =
      Sasmint({"verify", "--cert", pem, "--hub", kHub, "--device", "cam", "--primary-thumbprint",
               sha256, "--now", absl::StrCat(now + 2 * 86400)});
  EXPECT_EQ(expired.exit_code, 1);
  EXPECT_THAT(expired.out, StartsWith("verdict: CERT_EXPIRED\n"));

  testing::WriteFile(dir + "/junk.pem", "not a certificate\n");
  ExpectUsageError(Sasmint({"verify", "--cert", dir + "/junk.pem", "--hub", kHub, "--device", "cam",
                            "--primary-thumbprint", "AA"}),
                   "no PEM certificate");
}

TEST_F(ServeTest, VerifyAgainstTheServersKeys) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  const testing::TestCertificate cert =
      testing::MakeSelfSignedCertificate("cam", now - 3600, now + 86400);
  testing::WriteFile(dir_ + "/cam.pem", cert.pem);
  const std::string cam =
      absl::StrCat(R"({"id":"cam","status":"enabled","authentication":{"type":"selfSigned",)",
                   R"("x509Thumbprint":{"primaryThumbprint":")", WithColons(Sha256Hex(cert.der)),
                   R"(","secondaryThumbprint":null}}})", "\n");
  testing::WriteFile(dir_ + "/devices.json", ExportLine("dev1") + cam);
  const std::string server =
      "127.0.0.1:" + StartServer({"--hub", kHub, "--devices", dir_ + "/devices.json"});
  const auto [token, expiry] = MintJson(server, "dev1");
  ASSERT_FALSE(token.empty()) << expiry;

  const ProcessResult valid = Sasmint({"verify", token, "--server", server, "--json"});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_THAT(valid.out, StartsWith("{\"verdict\":\"VALID\",\"message\":\"IoT Hub would accept "
                                    "this token: the signature matches the primary key of device "
                                    "'dev1'"));
  EXPECT_THAT(valid.out, HasSubstr(absl::StrCat("\"expires_at\":", expiry)));

  // Signed with a key the server does not hold, for a device it does not know.
  const ProcessResult ghost =
      Sasmint({"verify", OfflineToken("ghost", kOtherKey, expiry), "--server", server});
  EXPECT_EQ(ghost.exit_code, 1) << ghost.err;
  EXPECT_THAT(ghost.out, StartsWith("verdict: UNKNOWN_IDENTITY\nmessage: IotHub "
                                    "'iot-hub-for-test' does not contain the specified device "
                                    "'ghost'"));
  const ProcessResult wrong_key =
      Sasmint({"verify", OfflineToken("dev1", kOtherKey, expiry), "--server", server});
  EXPECT_EQ(wrong_key.exit_code, 1);
  EXPECT_THAT(wrong_key.out, StartsWith("verdict: SIGNATURE_MISMATCH\n"));
  EXPECT_THAT(wrong_key.out, Not(HasSubstr(kKey)));

  const ProcessResult cert_ok = Sasmint({"verify", "--cert", dir_ + "/cam.pem", "--server", server,
                                         "--hub", kHub, "--device", "cam"});
  EXPECT_EQ(cert_ok.exit_code, 0) << cert_ok.err << cert_ok.out;
  const ProcessResult cert_sas = Sasmint({"verify", "--cert", dir_ + "/cam.pem", "--server", server,
                                          "--hub", kHub, "--device", "dev1", "--json"});
  EXPECT_EQ(cert_sas.exit_code, 1);
  EXPECT_THAT(cert_sas.out, StartsWith("{\"verdict\":\"THUMBPRINT_MISMATCH\""));

  // No verdict (the server is gone): exit code 2, one line on stderr.
  server_->Signal(SIGTERM);
  ASSERT_THAT(server_->Wait(absl::Seconds(20)), IsOk());
  const ProcessResult gone = Sasmint({"verify", token, "--server", server, "--timeout", "1"});
  EXPECT_EQ(gone.exit_code, 2);
  EXPECT_THAT(gone.err, HasSubstr("sasmint verify: "));
}

TEST_F(ServeTest, MutualTlsAndCallerRulesFromTheConfigFile) {
  const testing::TestIdentity ca = testing::MakeTestCa("test CA");
  const testing::TestIdentity server_id =
      testing::IssueCertificate(ca, "sasmint.test", {"DNS:sasmint.test"});
  const testing::TestIdentity gateway = testing::IssueCertificate(ca, "gw-1");
  testing::WriteFile(dir_ + "/ca.crt", ca.cert_pem);
  testing::WriteFile(dir_ + "/tls.crt", server_id.cert_pem);
  testing::WriteFile(dir_ + "/tls.key", server_id.key_pem);
  testing::WriteFile(dir_ + "/gw.crt", gateway.cert_pem);
  testing::WriteFile(dir_ + "/gw.key", gateway.key_pem);
  testing::WriteFile(dir_ + "/devices.json", ExportLine("dev1") + ExportLine("other"));
  const std::string config = dir_ + "/sasmint.json";
  testing::WriteFile(config, absl::StrCat(R"({"hubs": [{"host": ")", kHub,
                                          R"(", "device_files": ["devices.json"]}],
        "tls": {"cert_file": "tls.crt", "key_file": "tls.key", "client_ca_file": "ca.crt"},
        "health_listen": "127.0.0.1:0",
        "callers": [{"name": "gateway", "match": {"common_name": "gw-1"},
                     "allow": [{"hub": ")",
                                          kHub, R"(", "devices": ["dev*"]}]}]})"));
  const std::string server = "127.0.0.1:" + StartServer({"--config", config});
  const std::vector<std::string> tls = {"--tls-ca",          dir_ + "/ca.crt", "--tls-cert",
                                        dir_ + "/gw.crt",    "--tls-key",      dir_ + "/gw.key",
                                        "--tls-server-name", "sasmint.test"};
  const auto mint = [&](std::vector<std::string> args, bool with_tls = true) {
    args.insert(args.begin(), {"mint", "--server", server, "--hub", kHub});
    if (with_tls) args.insert(args.end(), tls.begin(), tls.end());
    return Sasmint(args);
  };
  const ProcessResult minted = mint({"--device", "dev1"});
  EXPECT_EQ(minted.exit_code, 0) << minted.err;
  EXPECT_THAT(minted.out, StartsWith(absl::StrCat("SharedAccessSignature sr=", kHub,
                                                  "%2Fdevices%2Fdev1&sig=")));
  // verify --server takes the same flags.
  std::vector<std::string> verify = {"verify", std::string(absl::StripSuffix(minted.out, "\n")),
                                     "--server", server};
  verify.insert(verify.end(), tls.begin(), tls.end());
  const ProcessResult verified = Sasmint(verify);
  EXPECT_EQ(verified.exit_code, 0) << verified.err << verified.out;
  EXPECT_THAT(verified.out, StartsWith("verdict: VALID\n"));

  // An existing device the caller may not mint for: refused, as an absent one would be.
  const ProcessResult denied = mint({"--device", "other"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED: caller 'gateway' may not mint for device "
                                    "'other' of hub"));
  // Without the client certificate the handshake fails: a clear error, not a token.
  const ProcessResult no_cert =
      Sasmint({"mint", "--server", server, "--hub", kHub, "--device", "dev1", "--tls-ca",
               dir_ + "/ca.crt", "--tls-server-name", "sasmint.test", "--timeout", "2"});
  EXPECT_EQ(no_cert.exit_code, 1);
  EXPECT_EQ(no_cert.out, "");
  EXPECT_THAT(no_cert.err, HasSubstr("the TLS handshake failed"));
  // Without TLS at all: the same.
  const ProcessResult plain = mint({"--device", "dev1", "--timeout", "2"}, false);
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_THAT(plain.err, HasSubstr("the TLS handshake failed"));
  // Client flag mistakes are usage errors.
  ExpectUsageError(Sasmint({"mint", "--server", server, "--hub", kHub, "--device", "dev1",
                            "--tls-cert", dir_ + "/gw.crt"}),
                   "--tls-cert and --tls-key go together");
  ExpectUsageError(Sasmint({"mint", "--server", server, "--hub", kHub, "--device", "dev1",
                            "--tls-cert", dir_ + "/gw.crt", "--tls-key", dir_ + "/gw.key"}),
                   "need --tls-ca FILE");

  server_->Signal(SIGTERM);
  ASSERT_THAT(server_->Wait(absl::Seconds(20)), IsOk());
  const std::string log = server_->ReadStderr();
  EXPECT_THAT(log, HasSubstr(R"x("tls":"mutual (client certificate required)")x"));
  EXPECT_THAT(log, HasSubstr(R"("health":"127.0.0.1:0 (port )"));
  EXPECT_THAT(log, Not(HasSubstr("every caller may mint")));
  EXPECT_THAT(log, HasSubstr(R"("msg":"permission denied","caller":"gateway","identity":"CN=gw-1",)"
                             R"("method":"MintToken")"));
  EXPECT_THAT(log, Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(log, Not(HasSubstr(kKey)));

  // TLS files given by flags override the configuration's; a missing one fails at start.
  const ProcessResult missing = Sasmint(
      {"serve", "--config", config, "--listen", "127.0.0.1:0", "--tls-key", dir_ + "/missing.key"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot read key file " + dir_ + "/missing.key"));
}

}  // namespace
}  // namespace sasmint
