// End-to-end tests of sasmint-bench as scripts run it: a real `sasmint serve` process on a
// loopback port, a real sasmint-bench process, and its last stdout line read as JSON.
// SASMINT_BIN and SASMINT_BENCH_BIN name the binaries (set by CMake).
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_identities.h"

namespace sasmint {
namespace {

using ::sasmint::testing::ChildProcess;
using ::sasmint::testing::IsOk;
using ::sasmint::testing::ProcessResult;
using ::testing::HasSubstr;

constexpr char kHub[] = "load-test-hub.azure-devices.net";
constexpr const char* kKey = testing::kTestKey;
constexpr int kDevices = 100;
// Both ways sasmint-bench can drive unary and batch RPCs (--transport).
const char* const kTransports[] = {"callback", "cq"};

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

// MakePortFile returns a fresh path in `dir` for a server's --port-file.
std::string MakePortFile(const std::string& dir) {
  static int counter = 0;
  return absl::StrCat(dir, "/port", ++counter);
}

std::string ExportLine(const std::string& id, const std::string& module = "",
                       const std::string& status = "enabled") {
  return testing::ExportLine(id, module, kKey, kKey, status);
}

// BenchReport is the JSON object on the last line of sasmint-bench's stdout.
struct BenchReport {
  std::string mode;
  int64_t concurrency = 0;
  std::optional<double> rate;
  int64_t tokens = 0;
  int64_t errors = 0;
  double seconds = 0;
  double tokens_per_second = 0;
  std::optional<double> p50_ms, p90_ms, p99_ms, p999_ms;
  std::map<std::string, int64_t> errors_by_code;
  int64_t rpcs = 0;
  int64_t failed_rpcs = 0;
  int64_t unsent = 0;
  int64_t latency_samples = 0;
  std::string transport;
  std::optional<double> client_threads;
};

// Every field of the JSON object (report.h); scripts read them by name.
const char* const kReportFields[] = {"mode",
                                     "target",
                                     "hub",
                                     "identities",
                                     "concurrency",
                                     "channels",
                                     "streams",
                                     "rate",
                                     "ttl",
                                     "warmup_seconds",
                                     "duration_seconds",
                                     "transport",
                                     "client_threads",
                                     "seconds",
                                     "tokens",
                                     "errors",
                                     "errors_by_code",
                                     "rpcs",
                                     "failed_rpcs",
                                     "unsent",
                                     "tokens_per_second",
                                     "rpcs_per_second",
                                     "latency_samples",
                                     "p50_ms",
                                     "p90_ms",
                                     "p99_ms",
                                     "p999_ms",
                                     "max_ms",
                                     "mean_ms"};

std::optional<double> OptionalNumber(simdjson::dom::element e) {
  if (e.is_null()) return std::nullopt;
  double v = 0;
  if (e.get_double().get(v) != simdjson::SUCCESS) {
    int64_t i = 0;
    EXPECT_EQ(e.get_int64().get(i), simdjson::SUCCESS);
    v = static_cast<double>(i);
  }
  return v;
}

BenchReport ParseLastLine(const std::string& out) {
  std::vector<absl::string_view> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  BenchReport r;
  if (lines.empty()) {
    ADD_FAILURE() << "no output";
    return r;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string json(std::string(lines.back()));
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) {
    ADD_FAILURE() << "last line is not JSON: " << lines.back();
    return r;
  }
  for (const char* field : kReportFields) {
    EXPECT_NE(doc[field].error(), simdjson::NO_SUCH_FIELD)
        << "no " << field << " in " << lines.back();
  }
  std::string_view mode;
  EXPECT_EQ(doc["mode"].get_string().get(mode), simdjson::SUCCESS);
  r.mode = std::string(mode);
  std::string_view transport;
  EXPECT_EQ(doc["transport"].get_string().get(transport), simdjson::SUCCESS);
  r.transport = std::string(transport);
  r.client_threads = OptionalNumber(doc["client_threads"].value_unsafe());
  EXPECT_EQ(doc["rpcs"].get_int64().get(r.rpcs), simdjson::SUCCESS);
  EXPECT_EQ(doc["failed_rpcs"].get_int64().get(r.failed_rpcs), simdjson::SUCCESS);
  EXPECT_EQ(doc["unsent"].get_int64().get(r.unsent), simdjson::SUCCESS);
  EXPECT_EQ(doc["latency_samples"].get_int64().get(r.latency_samples), simdjson::SUCCESS);
  EXPECT_EQ(doc["concurrency"].get_int64().get(r.concurrency), simdjson::SUCCESS);
  EXPECT_EQ(doc["tokens"].get_int64().get(r.tokens), simdjson::SUCCESS);
  EXPECT_EQ(doc["errors"].get_int64().get(r.errors), simdjson::SUCCESS);
  r.rate = OptionalNumber(doc["rate"].value_unsafe());
  r.seconds = OptionalNumber(doc["seconds"].value_unsafe()).value_or(-1);
  r.tokens_per_second = OptionalNumber(doc["tokens_per_second"].value_unsafe()).value_or(-1);
  r.p50_ms = OptionalNumber(doc["p50_ms"].value_unsafe());
  r.p90_ms = OptionalNumber(doc["p90_ms"].value_unsafe());
  r.p99_ms = OptionalNumber(doc["p99_ms"].value_unsafe());
  r.p999_ms = OptionalNumber(doc["p999_ms"].value_unsafe());
  simdjson::dom::object codes;
  EXPECT_EQ(doc["errors_by_code"].get_object().get(codes), simdjson::SUCCESS);
  for (auto field : codes) {
    int64_t n = 0;
    EXPECT_EQ(field.value.get_int64().get(n), simdjson::SUCCESS);
    r.errors_by_code[std::string(field.key)] = n;
  }
  return r;
}

int64_t ErrorsWithCode(const BenchReport& r, const std::string& code) {
  auto it = r.errors_by_code.find(code);
  return it == r.errors_by_code.end() ? 0 : it->second;
}

// StartServer starts `sasmint serve` for the fleet in `dir`/devices.json on a loopback port
// and sets `target` to its address; null (after a test failure) if it does not come up.
std::unique_ptr<ChildProcess> StartServer(const std::string& dir, std::string* target) {
  const std::string port_file = MakePortFile(dir);
  auto child = ChildProcess::Start(
      {Env("SASMINT_BIN", "sasmint"), "serve", "--hub", kHub, "--devices", dir + "/devices.json",
       "--listen", "127.0.0.1:0", "--port-file", port_file},
      dir);
  if (!child.ok()) {
    ADD_FAILURE() << child.status();
    return nullptr;
  }
  auto server = std::make_unique<ChildProcess>(*std::move(child));
  auto port = testing::WaitForFile(port_file, absl::Seconds(30));
  if (!port.ok()) {
    ADD_FAILURE() << port.status() << ": " << server->ReadStderr();
    return nullptr;
  }
  *target = absl::StrCat("127.0.0.1:", absl::StripAsciiWhitespace(*port));
  return server;
}

class LoadClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir());
    // The server's fleet: devices, one module, one disabled device (which the bench skips).
    std::string fleet;
    for (int i = 0; i < kDevices - 1; ++i) fleet += ExportLine(absl::StrCat("dev-", i));
    fleet += ExportLine("dev-0", "telemetry");
    const std::string disabled = ExportLine("dev-off", "", "disabled");
    testing::WriteFile(*dir_ + "/devices.json", fleet + disabled);
    // The same fleet plus one device the server has never heard of.
    testing::WriteFile(*dir_ + "/with-ghost.json", fleet + ExportLine("ghost-device") + disabled);
    testing::WriteFile(*dir_ + "/not-json.txt", "12345\n");

    std::string target;
    server_ = StartServer(*dir_, &target).release();
    ASSERT_NE(server_, nullptr);
    target_ = new std::string(target);
  }

  static void TearDownTestSuite() {
    delete server_;  // kills and reaps it
    server_ = nullptr;
  }

  // Bench runs sasmint-bench against the test server with the contract's flags plus `more`.
  static ProcessResult Bench(const std::string& mode, int concurrency,
                             std::vector<std::string> more = {},
                             const std::string& devices = "devices.json") {
    auto result = testing::RunProcess(
        BenchArgs(*target_, mode, concurrency, std::move(more), devices), absl::Seconds(60));
    EXPECT_THAT(result, IsOk());
    return result.value_or(ProcessResult{});
  }

  // BenchArgs is the command line of a run against `target`: the contract's flags, a 2 s window
  // after 0.5 s of warm-up unless `more` sets --duration / --warmup, then `more`.
  static std::vector<std::string> BenchArgs(const std::string& target, const std::string& mode,
                                            int concurrency, std::vector<std::string> more = {},
                                            const std::string& devices = "devices.json") {
    const auto has = [&more](const char* flag) {
      return std::find(more.begin(), more.end(), flag) != more.end();
    };
    std::vector<std::string> args = {Env("SASMINT_BENCH_BIN", "sasmint-bench"),
                                     "--target",
                                     target,
                                     "--hub",
                                     kHub,
                                     "--devices",
                                     *dir_ + "/" + devices,
                                     "--mode",
                                     mode,
                                     "--concurrency",
                                     absl::StrCat(concurrency)};
    if (!has("--duration")) args.insert(args.end(), {"--duration", "2"});
    if (!has("--warmup")) args.insert(args.end(), {"--warmup", "0.5"});
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  static void ExpectHealthyRun(const ProcessResult& run, const BenchReport& r) {
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_GT(r.tokens, 0);
    EXPECT_EQ(r.errors, 0) << run.err;
    EXPECT_TRUE(r.errors_by_code.empty());
    EXPECT_GE(r.seconds, 2.0);
    EXPECT_LT(r.seconds, 3.0);
    EXPECT_GT(r.tokens_per_second, 50);
    EXPECT_LT(r.tokens_per_second, 50e6);
    ASSERT_TRUE(r.p50_ms && r.p90_ms && r.p99_ms && r.p999_ms);
    EXPECT_GT(*r.p50_ms, 0);
    EXPECT_LE(*r.p50_ms, *r.p90_ms);
    EXPECT_LE(*r.p90_ms, *r.p99_ms);
    EXPECT_LE(*r.p99_ms, *r.p999_ms);
    EXPECT_LT(*r.p50_ms, 1000);
    // Every completed request was measured: one latency sample per RPC, all of them tokens.
    EXPECT_EQ(r.failed_rpcs, 0);
    EXPECT_EQ(r.unsent, 0);
    EXPECT_EQ(r.latency_samples, r.rpcs);
    // Progress lines go to stderr while it runs.
    EXPECT_THAT(run.err, HasSubstr("tokens/s"));
  }

  // ExpectScheduleKept checks an open-loop run's request count: every request due in the
  // window was sent (rpcs) or counted as unsent, `expected` in all, give or take one per caller
  // (a caller's phase decides whether its first or last due time falls in the window).
  static void ExpectScheduleKept(const BenchReport& r, int64_t expected) {
    EXPECT_NEAR(static_cast<double>(r.rpcs + r.unsent), static_cast<double>(expected),
                static_cast<double>(r.concurrency))
        << "rpcs " << r.rpcs << " unsent " << r.unsent;
    EXPECT_EQ(r.tokens + r.errors, r.rpcs);  // unary: one token per RPC
    // One sample per RPC that succeeded, and each unsent request at its lower bound.
    EXPECT_EQ(r.latency_samples, r.rpcs - r.failed_rpcs + r.unsent);
  }

  static std::string* dir_;
  static std::string* target_;
  static ChildProcess* server_;
};

std::string* LoadClientTest::dir_ = nullptr;
std::string* LoadClientTest::target_ = nullptr;
ChildProcess* LoadClientTest::server_ = nullptr;

TEST_F(LoadClientTest, UnaryClosedLoop) {
  const ProcessResult run = Bench("unary", 4);
  const BenchReport r = ParseLastLine(run.out);
  ExpectHealthyRun(run, r);
  EXPECT_EQ(r.mode, "unary");
  EXPECT_EQ(r.concurrency, 4);
  EXPECT_FALSE(r.rate.has_value());
  EXPECT_EQ(r.transport, "callback");  // the default
  EXPECT_FALSE(r.client_threads.has_value());
}

TEST_F(LoadClientTest, UnaryClosedLoopOnEachTransport) {
  for (const char* transport : kTransports) {
    SCOPED_TRACE(transport);
    const ProcessResult run = Bench("unary", 6, {"--transport", transport});
    const BenchReport r = ParseLastLine(run.out);
    ExpectHealthyRun(run, r);
    EXPECT_EQ(r.transport, transport);
    EXPECT_EQ(r.tokens, r.rpcs);
    if (std::string(transport) == "cq") {
      // Default: one thread per CPU the test may run on, at most one per caller.
      ASSERT_TRUE(r.client_threads.has_value());
      EXPECT_GE(*r.client_threads, 1);
      EXPECT_LE(*r.client_threads, 6);
    } else {
      EXPECT_FALSE(r.client_threads.has_value());
    }
  }
}

TEST_F(LoadClientTest, CqTransportSharesCallersOverThreads) {
  // 7 callers over 3 threads (3, 2, 2), 2 channels: uneven shares still all complete.
  const ProcessResult run =
      Bench("unary", 7, {"--transport", "cq", "--client-threads", "3", "--channels", "2"});
  const BenchReport r = ParseLastLine(run.out);
  ExpectHealthyRun(run, r);
  EXPECT_EQ(r.client_threads, 3);
}

TEST_F(LoadClientTest, CqTransportBatch) {
  const ProcessResult run =
      Bench("batch:50", 3, {"--transport", "cq", "--client-threads", "2", "--rate", "3000"});
  const BenchReport r = ParseLastLine(run.out);
  ExpectHealthyRun(run, r);
  EXPECT_EQ(r.transport, "cq");
  EXPECT_EQ(r.tokens % 50, 0);
  EXPECT_NEAR(r.tokens_per_second, 3000, 600);
}

TEST_F(LoadClientTest, BatchClosedLoop) {
  const ProcessResult run = Bench("batch:50", 4);
  const BenchReport r = ParseLastLine(run.out);
  ExpectHealthyRun(run, r);
  EXPECT_EQ(r.mode, "batch:50");
  EXPECT_EQ(r.tokens % 50, 0);
}

TEST_F(LoadClientTest, UnaryOpenLoopOffersTheRate) {
  for (const char* transport : kTransports) {
    SCOPED_TRACE(transport);
    const ProcessResult run = Bench("unary", 8, {"--rate", "2000", "--transport", transport});
    const BenchReport r = ParseLastLine(run.out);
    ExpectHealthyRun(run, r);
    EXPECT_EQ(r.rate, 2000);
    EXPECT_NEAR(r.tokens_per_second, 2000, 400);
    // 2000/s over a 2 s window: 4000 requests due, every one sent and answered.
    ExpectScheduleKept(r, 4000);
    EXPECT_EQ(r.tokens, r.rpcs);
  }
}

TEST_F(LoadClientTest, UnreachableRateCountsUnsent) {
  for (const char* transport : kTransports) {
    SCOPED_TRACE(transport);
    // Two callers cannot send a million requests a second: they keep sending overdue requests
    // for one more window, then count the rest as unsent.
    const ProcessResult run = Bench("unary", 2,
                                    {"--rate", "1000000", "--duration", "1", "--warmup", "0",
                                     "--transport", transport, "--quiet"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    const BenchReport r = ParseLastLine(run.out);
    EXPECT_EQ(r.errors, 0) << run.err;
    EXPECT_GT(r.tokens, 0);
    EXPECT_GT(r.unsent, 500000);
    ExpectScheduleKept(r, 1000000);
    EXPECT_THAT(run.err, HasSubstr("were never sent"));
    // Unsent requests are in the latency at a lower bound: at least the second of drain.
    ASSERT_TRUE(r.p99_ms.has_value());
    EXPECT_GE(*r.p99_ms, 500);
  }
}

// A run whose server goes away in the middle of the window: the requests due after that are
// still accounted for, as failures (server killed: UNAVAILABLE at once) or as unsent (server
// frozen: the requests in flight hang past the end of the drain).
TEST_F(LoadClientTest, ServerStoppedMidRun) {
  for (const bool freeze : {false, true}) {
    for (const char* transport : kTransports) {
      SCOPED_TRACE(absl::StrCat(freeze ? "frozen" : "killed", " server, ", transport));
      std::string target;
      std::unique_ptr<ChildProcess> server = StartServer(*dir_, &target);
      ASSERT_NE(server, nullptr);
      // 1000/s for 2 s: 2000 requests due; the drain lasts until 4 s, the deadline is 4 s.
      auto bench = ChildProcess::Start(BenchArgs(target, "unary", 4,
                                                 {"--rate", "1000", "--duration", "2", "--warmup",
                                                  "0", "--timeout", "4", "--transport", transport}),
                                       *dir_);
      ASSERT_THAT(bench, IsOk());
      absl::SleepFor(absl::Milliseconds(1200));
      server->Signal(freeze ? SIGSTOP : SIGKILL);
      auto exit_code = bench->Wait(absl::Seconds(30));
      if (freeze) server->Signal(SIGCONT);
      ASSERT_THAT(exit_code, IsOk());
      const std::string out = bench->ReadStdout(), err = bench->ReadStderr();
      EXPECT_EQ(*exit_code, 0) << err;
      const BenchReport r = ParseLastLine(out);
      EXPECT_GT(r.tokens, 500) << err;  // about 1.1 s of the window went through
      EXPECT_LT(r.tokens, 1500) << err;
      ExpectScheduleKept(r, 2000);
      if (freeze) {
        // Each caller's request in flight times out after the drain; the rest are unsent.
        EXPECT_EQ(ErrorsWithCode(r, "DEADLINE_EXCEEDED"), r.errors) << err;
        EXPECT_LE(r.errors, 4);
        EXPECT_GT(r.unsent, 500);
        EXPECT_THAT(err, HasSubstr("were never sent"));
      } else {
        // Calls to a dead server fail at once: everything due is sent and fails.
        EXPECT_EQ(r.unsent, 0);
        EXPECT_GT(r.errors, 500);
        EXPECT_EQ(ErrorsWithCode(r, "UNAVAILABLE"), r.errors) << err;
      }
    }
  }
}

TEST_F(LoadClientTest, BatchOpenLoopOffersTheRate) {
  const ProcessResult run = Bench("batch:50", 4, {"--rate", "2000", "--channels", "2"});
  const BenchReport r = ParseLastLine(run.out);
  ExpectHealthyRun(run, r);
  EXPECT_EQ(r.rate, 2000);
  EXPECT_NEAR(r.tokens_per_second, 2000, 400);
}

TEST_F(LoadClientTest, StreamMode) {
  const ProcessResult run = Bench("stream:50", 4, {"--streams", "2"});
  const BenchReport r = ParseLastLine(run.out);
  if (r.errors_by_code.contains("UNIMPLEMENTED")) {
    GTEST_SKIP() << "the server answers StreamTokens with UNIMPLEMENTED; stream mode not tested";
  }
  ExpectHealthyRun(run, r);
  EXPECT_EQ(r.mode, "stream:50");
  EXPECT_EQ(r.tokens % 50, 0);
}

TEST_F(LoadClientTest, UnknownDeviceInABatchCountsNotFoundPerItem) {
  const ProcessResult run = Bench("batch:50", 2, {}, "with-ghost.json");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const BenchReport r = ParseLastLine(run.out);
  EXPECT_GT(r.tokens, 0);
  EXPECT_GT(r.errors, 0);
  EXPECT_EQ(r.errors_by_code.size(), 1u);
  EXPECT_EQ(ErrorsWithCode(r, "NOT_FOUND"), r.errors);
  // One identity in 100 is unknown; every batch covers the list evenly.
  EXPECT_NEAR(static_cast<double>(r.errors) / static_cast<double>(r.tokens + r.errors), 0.01,
              0.005);
  EXPECT_TRUE(r.p99_ms.has_value());  // per-item errors do not fail the RPC
}

TEST_F(LoadClientTest, UnknownHubFailsEveryUnaryRpcWithNotFound) {
  std::vector<std::string> args = {Env("SASMINT_BENCH_BIN", "sasmint-bench"),
                                   "--target",
                                   *target_,
                                   "--hub",
                                   "not-served.azure-devices.net",
                                   "--devices",
                                   *dir_ + "/devices.json",
                                   "--mode",
                                   "unary",
                                   "--concurrency",
                                   "2",
                                   "--duration",
                                   "1",
                                   "--warmup",
                                   "0",
                                   "--quiet"};
  auto run = testing::RunProcess(args, absl::Seconds(60));
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 0) << run->err;
  const BenchReport r = ParseLastLine(run->out);
  EXPECT_EQ(r.tokens, 0);
  EXPECT_GT(r.errors, 0);
  EXPECT_EQ(ErrorsWithCode(r, "NOT_FOUND"), r.errors);
  EXPECT_FALSE(r.p50_ms.has_value());  // no RPC succeeded: no latency to report
  EXPECT_THAT(run->err, HasSubstr("MintToken failed: NOT_FOUND"));
  EXPECT_THAT(run->err, ::testing::Not(HasSubstr("tokens/s")));  // --quiet
}

TEST_F(LoadClientTest, BadFlagsAreOneLineAndExitTwo) {
  const std::string bench = Env("SASMINT_BENCH_BIN", "sasmint-bench");
  const std::string devices = *dir_ + "/devices.json";
  const std::vector<std::vector<std::string>> cases = {
      {bench, "--target", *target_, "--hub", kHub, "--devices", devices, "--mode", "bulk"},
      {bench, "--target", *target_, "--hub", kHub, "--devices", devices, "--concurrency", "0"},
      {bench, "--hub", kHub, "--devices", devices},
      {bench, "--target", *target_, "--hub", kHub, "--devices", devices, "--frobnicate"},
      {bench, "--target", *target_, "--hub", kHub, "--devices", *dir_ + "/not-json.txt"},
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    auto run = testing::RunProcess(args);
    ASSERT_THAT(run, IsOk());
    EXPECT_EQ(run->exit_code, 2);
    EXPECT_EQ(run->out, "");
    EXPECT_EQ(std::count(run->err.begin(), run->err.end(), '\n'), 1) << run->err;
  }
  auto help = testing::RunProcess({bench, "--help"});
  ASSERT_THAT(help, IsOk());
  EXPECT_EQ(help->exit_code, 0);
  EXPECT_THAT(help->out, HasSubstr("--concurrency"));
}

TEST_F(LoadClientTest, UnreachableServerExitsOne) {
  const std::string bench = Env("SASMINT_BENCH_BIN", "sasmint-bench");
  // Port 1 on loopback: nothing listens there, so the connection is refused.
  auto run = testing::RunProcess({bench, "--target", "127.0.0.1:1", "--hub", kHub, "--devices",
                                  *dir_ + "/devices.json", "--connect-timeout", "1"});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 1);
  EXPECT_EQ(run->out, "");
  EXPECT_THAT(run->err, HasSubstr("cannot connect to 127.0.0.1:1"));

  auto missing = testing::RunProcess(
      {bench, "--target", *target_, "--hub", kHub, "--devices", *dir_ + "/no-such-file.json"});
  ASSERT_THAT(missing, IsOk());
  EXPECT_EQ(missing->exit_code, 1);
  EXPECT_THAT(missing->err, HasSubstr("cannot open"));
}

}  // namespace
}  // namespace sasmint
