// Replicas the way a Deployment runs them, on loopback: three `sasmint serve` processes, and
// three gateways spreading calls over all of them with the gateway service config
// (client/channel.h: round_robin, client-side health checking, retries of unary calls):
//   - sasmint-bench, batch mode, open loop (a separate process);
//   - the client library (TokenClient), Gets of identities it has not cached, so each one mints;
//   - a plain stub making MintToken calls, which also records which replica answered each call
//     (the peer address) to time how soon a restarted replica gets traffic again.
// A rolling restart (SIGTERM, wait for exit, start on the same port, wait for SERVING, next)
// must cost no call at all, and each restarted replica must answer calls again within the
// servers' max_connection_age. Then a SIGKILL of one replica: sasmint-bench may lose at most the
// tokens in flight on it, and the client library's retries hide the loss from its callers.
// The figures are printed for bench/README.md.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/channel.h"
#include "client/token_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "sasmint/v1/sasmint.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::ChildProcess;
using ::sasmint::testing::IsOk;

constexpr char kHub[] = "replicas.azure-devices.net";
constexpr int kReplicas = 3;
constexpr int kIdentities = 20000;
constexpr int kMaxConnectionAgeSeconds = 4;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string DeviceId(int i) { return absl::StrCat("rep-", i); }

// Replica is one `sasmint serve` process; Restart starts a new one on the same port.
class Replica {
 public:
  Replica(std::string dir, int index) : dir_(std::move(dir)), index_(index) {}

  void Start() {
    const std::string port_file = absl::StrCat(dir_, "/port", index_, "-", ++starts_);
    auto child = ChildProcess::Start(
        {Env("SASMINT_BIN"), "serve", "--config", dir_ + "/sasmint.json", "--listen",
         absl::StrCat("127.0.0.1:", port_), "--port-file", port_file},
        dir_);
    ASSERT_THAT(child, IsOk());
    process_.emplace(*std::move(child));
    auto port = testing::WaitForFile(port_file, absl::Seconds(30));
    ASSERT_THAT(port, IsOk()) << process_->ReadStderr();
    ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(*port), &port_));
  }

  // Stop sends `signal` and reaps the process; returns its exit code.
  int Stop(int signal) {
    process_->Signal(signal);
    absl::StatusOr<int> code = process_->Wait(absl::Seconds(30));
    EXPECT_THAT(code, IsOk());
    return code.value_or(-1);
  }

  // WaitServing polls readiness on this replica alone until it is SERVING.
  bool WaitServing(absl::Duration timeout) {
    auto health = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
    for (const absl::Time end = absl::Now() + timeout; absl::Now() < end;) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
      grpc::health::v1::HealthCheckRequest request;
      request.set_service("sasmint.v1.TokenService");
      grpc::health::v1::HealthCheckResponse response;
      if (health->Check(&context, request, &response).ok() &&
          response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  int port() const { return port_; }
  std::string Stderr() const { return process_ ? process_->ReadStderr() : ""; }

 private:
  std::string dir_;
  int index_;
  int port_ = 0;
  int starts_ = 0;
  std::optional<ChildProcess> process_;
};

// Probe is the plain-stub gateway: MintToken in a closed loop, each answer attributed to the
// replica (port) that gave it.
class Probe {
 public:
  Probe(const std::string& target, std::vector<int> ports) : ports_(std::move(ports)) {
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                         GatewayChannelArguments());
    thread_ = std::thread([this] { Run(); });
  }
  ~Probe() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // LastAnswer returns when replica `port` last answered a call (InfinitePast if never).
  absl::Time LastAnswer(int port) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = last_answer_.find(port);
    return it == last_answer_.end() ? absl::InfinitePast() : it->second;
  }
  int64_t calls() const { return calls_; }
  int64_t failures() const { return failures_; }

 private:
  void Run() {
    auto stub = v1::TokenService::NewStub(channel_);
    for (int i = 0; !stop_; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::MintTokenRequest request;
      request.mutable_identity()->set_hub(kHub);
      request.mutable_identity()->set_device_id(DeviceId(i % kIdentities));
      v1::MintTokenResponse response;
      const grpc::Status status = stub->MintToken(&context, request, &response);
      ++calls_;
      if (!status.ok()) {
        ++failures_;
        continue;
      }
      int port = 0;
      const std::string peer = context.peer();  // "ipv4:127.0.0.1:PORT"
      if (absl::SimpleAtoi(peer.substr(peer.rfind(':') + 1), &port)) {
        std::lock_guard<std::mutex> lock(mu_);
        last_answer_[port] = absl::Now();
      }
      absl::SleepFor(absl::Milliseconds(4));
    }
  }

  std::vector<int> ports_;
  std::shared_ptr<grpc::Channel> channel_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> calls_{0}, failures_{0};
  std::mutex mu_;
  std::map<int, absl::Time> last_answer_;
  std::thread thread_;
};

// LibraryGateway: threads calling TokenClient::Get for identities not yet cached, so every Get
// mints; counts the Gets that failed (what a gateway's device connection would see).
class LibraryGateway {
 public:
  explicit LibraryGateway(const std::string& target) {
    client::TokenClient::Options options;
    options.target = target;
    options.ttl_seconds = 3600;
    auto created = client::TokenClient::Create(options);
    EXPECT_THAT(created, IsOk());
    client_ = *std::move(created);
    for (int t = 0; t < 2; ++t) {
      threads_.emplace_back([this] {
        while (!stop_) {
          const int i = next_++;
          if (i >= kIdentities) break;
          const absl::StatusOr<client::Token> token = client_->Get({kHub, DeviceId(i), ""});
          ++gets_;
          if (!token.ok()) {
            ++failures_;
            std::lock_guard<std::mutex> lock(mu_);
            if (first_error_.empty()) first_error_ = token.status().ToString();
          }
          absl::SleepFor(absl::Milliseconds(5));
        }
      });
    }
  }
  ~LibraryGateway() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t gets() const { return gets_; }
  int64_t failures() const { return failures_; }
  client::TokenClientStats stats() const { return client_->Stats(); }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  std::unique_ptr<client::TokenClient> client_;
  std::atomic<bool> stop_{false};
  std::atomic<int> next_{0};
  std::atomic<int64_t> gets_{0}, failures_{0};
  std::mutex mu_;
  std::string first_error_;
  std::vector<std::thread> threads_;
};

// BenchField returns the integer after "\"name\":" in sasmint-bench's JSON.
int64_t BenchField(const std::string& json, const std::string& name) {
  const std::string key = absl::StrCat("\"", name, "\":");
  const size_t at = json.find(key);
  if (at == std::string::npos) return -1;
  int64_t value = -1;
  const size_t start = at + key.size();
  const size_t end = json.find_first_not_of("0123456789", start);
  (void)absl::SimpleAtoi(json.substr(start, end - start), &value);
  return value;
}

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    std::string devices;
    for (int i = 0; i < kIdentities; ++i) {
      devices += testing::ExportLine(DeviceId(i), "", testing::kTestKey);
    }
    testing::WriteFile(dir_ + "/devices.json", devices);
    // As the manifests configure it (k8s/base/config.json), with a shorter connection age so
    // that the test waits seconds, not minutes.
    testing::WriteFile(dir_ + "/sasmint.json",
                       absl::StrCat(R"({
      "hubs": [{"host": ")",
                                    kHub, R"(", "device_files": ["devices.json"]}],
      "limits": {"max_connection_age_seconds": )",
                                    kMaxConnectionAgeSeconds, R"(,
                 "max_connection_age_grace_seconds": 2, "shutdown_drain_ms": 300,
                 "shutdown_grace_seconds": 5}})"));
    replicas_.reserve(kReplicas);
    for (int i = 0; i < kReplicas; ++i) {
      replicas_.emplace_back(dir_, i);
      replicas_.back().Start();
      ASSERT_TRUE(replicas_.back().WaitServing(absl::Seconds(30))) << replicas_.back().Stderr();
    }
    std::vector<std::string> addresses;
    for (const Replica& r : replicas_) addresses.push_back(absl::StrCat("127.0.0.1:", r.port()));
    target_ = absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
  }

  void TearDown() override {
    for (Replica& r : replicas_) EXPECT_EQ(r.Stop(SIGTERM), 0) << r.Stderr();
  }

  // StartBench starts sasmint-bench into `slot` (ChildProcess cannot be reassigned). `rate` 0
  // is a closed loop: each of the 2 callers always has a batch in flight.
  void StartBench(int seconds, int rate, std::optional<ChildProcess>& slot) {
    std::vector<std::string> args = {
        Env("SASMINT_BENCH_BIN"), "--target", target_,    "--hub",         kHub, "--devices",
        dir_ + "/devices.json",   "--mode",   "batch:50", "--concurrency", "2",  "--duration",
        absl::StrCat(seconds),    "--warmup", "0",        "--channels",    "2",  "--quiet"};
    if (rate > 0) args.insert(args.end(), {"--rate", absl::StrCat(rate)});
    auto bench = ChildProcess::Start(args, dir_);
    ASSERT_THAT(bench, IsOk());
    slot.emplace(*std::move(bench));
  }

  std::string dir_;
  std::vector<Replica> replicas_;
  std::string target_;
};

TEST_F(ReplicasTest, RollingRestartLosesNoCallAndSigkillIsHiddenByRetries) {
  std::vector<int> ports;
  for (const Replica& r : replicas_) ports.push_back(r.port());
  std::optional<ChildProcess> bench;
  ASSERT_NO_FATAL_FAILURE(StartBench(16, 4000, bench));
  Probe probe(target_, ports);
  LibraryGateway library(target_);
  absl::SleepFor(absl::Seconds(1.5));
  for (int port : ports) EXPECT_NE(probe.LastAnswer(port), absl::InfinitePast()) << port;

  // The rolling restart, one replica at a time, as the Deployment's maxUnavailable 0 does it.
  std::vector<absl::Duration> rebalance;
  const absl::Time rollout_start = absl::Now();
  for (Replica& r : replicas_) {
    EXPECT_EQ(r.Stop(SIGTERM), 0) << r.Stderr();
    r.Start();
    ASSERT_TRUE(r.WaitServing(absl::Seconds(30))) << r.Stderr();
    const absl::Time ready = absl::Now();
    absl::Time answered = absl::InfiniteFuture();
    while (absl::Now() - ready < absl::Seconds(kMaxConnectionAgeSeconds + 2)) {
      if (probe.LastAnswer(r.port()) > ready) {
        answered = probe.LastAnswer(r.port());
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    rebalance.push_back(answered - ready);
    EXPECT_LE(answered - ready, absl::Seconds(kMaxConnectionAgeSeconds))
        << "replica on port " << r.port() << " got no traffic after its restart";
  }
  const absl::Duration rollout = absl::Now() - rollout_start;
  ASSERT_THAT(bench->Wait(absl::Seconds(60)), IsOk());
  const std::string report = bench->ReadStdout();
  const int64_t bench_tokens = BenchField(report, "tokens");
  const int64_t bench_errors = BenchField(report, "errors");
  EXPECT_GT(bench_tokens, 0) << report << bench->ReadStderr();
  EXPECT_EQ(bench_errors, 0) << report << bench->ReadStderr();
  EXPECT_EQ(probe.failures(), 0);
  EXPECT_EQ(library.failures(), 0) << library.first_error();
  const int64_t probe_calls = probe.calls(), library_gets = library.gets();
  std::cout << "replicas: rolling restart of " << kReplicas << " in " << rollout
            << ": sasmint-bench " << bench_tokens << " tokens, " << bench_errors
            << " errors; client library " << library_gets << " Gets, " << library.failures()
            << " failed; stub " << probe_calls << " calls, " << probe.failures()
            << " failed; first answer after SERVING: "
            << absl::StrJoin(rebalance, ", ", absl::StreamFormatter()) << std::endl;

  // SIGKILL under a closed loop: the replica's calls in flight are lost on the wire.
  ASSERT_NO_FATAL_FAILURE(StartBench(6, 0, bench));
  absl::SleepFor(absl::Seconds(1.5));
  const int64_t probe_failures_before = probe.failures();
  const int64_t library_failures_before = library.failures();
  EXPECT_EQ(replicas_[1].Stop(SIGKILL), 128 + SIGKILL);
  absl::SleepFor(absl::Seconds(1.5));
  replicas_[1].Start();
  ASSERT_TRUE(replicas_[1].WaitServing(absl::Seconds(30))) << replicas_[1].Stderr();
  ASSERT_THAT(bench->Wait(absl::Seconds(60)), IsOk());
  const std::string killed = bench->ReadStdout();
  const int64_t killed_errors = BenchField(killed, "errors");
  // At most what was in flight on it: each of the 2 callers had one batch of 50 outstanding.
  EXPECT_GE(killed_errors, 0) << killed;
  EXPECT_LE(killed_errors, 2 * 50) << killed << bench->ReadStderr();
  EXPECT_LE(probe.failures() - probe_failures_before, 1);
  EXPECT_EQ(library.failures(), library_failures_before) << library.first_error();
  probe.Stop();
  library.Stop();
  const client::TokenClientStats stats = library.stats();
  std::cout << "replicas: SIGKILL of one replica: sasmint-bench " << BenchField(killed, "tokens")
            << " tokens, " << killed_errors << " errors (at most 100 in flight); stub "
            << probe.failures() - probe_failures_before << " failed; client library "
            << library.failures() - library_failures_before << " failed Gets (" << stats.retries
            << " retried attempts, " << stats.failures << " failed attempts in all)" << std::endl;
}

}  // namespace
}  // namespace sasmint
