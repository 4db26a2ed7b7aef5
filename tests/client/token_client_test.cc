// Tests of the gateway client library (client/token_client.h) against real `sasmint serve`
// processes on loopback ports, with short TTLs from a configuration file so that renewals
// happen within seconds. SASMINT_BIN names the server binary (set by CMake). Tests of renewal
// timing run the same server in this process instead, on the test's clock, which both sides
// then share: the test moves time forward rather than waiting for it to pass.
#include "client/token_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/admin/key_admin.h"
#include "service/keystore/export_loader.h"
#include "service/rpc/server.h"
#include "signer/encoding.h"
#include "signer/hmac_sha256.h"
#include "signer/sas_token.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_identities.h"

namespace sasmint::client {
namespace {

using ::sasmint::testing::ChildProcess;
using ::sasmint::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kKey = testing::kTestKey;
constexpr char kHub[] = "iot-hub-for-test.azure-devices.net";
constexpr int kDevices = 50;

std::string Bin() {
  const char* bin = std::getenv("SASMINT_BIN");
  return bin != nullptr ? bin : "sasmint";
}

Identity Device(int i) { return Identity{kHub, absl::StrCat("dev", i), ""}; }

// ExpectedToken signs what the server should have signed for `id` and `expiry`.
std::string ExpectedToken(const Identity& id, int64_t expiry) {
  auto key = DecodeBase64Key(kKey);
  EXPECT_THAT(key, IsOk());
  auto token =
      BuildToken(TokenScope::Device(id.hub, id.device_id), HmacKey::FromSecret(*key), expiry);
  EXPECT_THAT(token, IsOk());
  return token.value_or("");
}

// FreePort returns a loopback port nothing listens on (bound, then released).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// OffsetClock is the real clock moved by an offset: fixed (a gateway whose clock is wrong), or
// moved forward by the test (Advance), so that renewals come due without waiting for them. The
// client re-reads its clock at least every 200 ms, so a jump takes effect within that.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(absl::Duration offset = absl::ZeroDuration()) : offset_(offset) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return absl::Now() + offset_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    offset_ += d;
  }
  // AdvanceTo moves the clock forward to `t` (not back).
  void AdvanceTo(absl::Time t) {
    absl::MutexLock lock(&mu_);
    offset_ += std::max(absl::ZeroDuration(), t - (absl::Now() + offset_));
  }

 private:
  mutable absl::Mutex mu_;
  absl::Duration offset_ ABSL_GUARDED_BY(mu_);
};

// Recorder collects hook calls, timed on `clock` (the client's).
struct Recorder {
  explicit Recorder(const Clock* clock = &Clock::Real()) : clock(clock) {}
  struct Renewal {
    Identity id;
    Token token;
    absl::Time at;  // when the hook was called
  };
  const Clock* const clock;
  absl::Mutex mu;
  std::vector<Renewal> renewals ABSL_GUARDED_BY(mu);
  std::vector<std::pair<std::string, std::string>> puts ABSL_GUARDED_BY(mu);  // audience, type
  std::vector<std::string> put_texts ABSL_GUARDED_BY(mu);

  TokenHooks Hooks() {
    TokenHooks hooks;
    hooks.on_token_renewed = [this](const Identity& id, const Token& t) {
      absl::MutexLock lock(&mu);
      renewals.push_back({id, t, clock->Now()});
    };
    hooks.on_put_token = [this](const Identity& id, const PutToken& put) {
      absl::MutexLock lock(&mu);
      puts.emplace_back(put.audience, put.token_type);
      put_texts.push_back(put.token->text);
    };
    return hooks;
  }
  // WaitFor waits until `done` holds (checked under the lock) or `timeout` passes.
  bool WaitFor(std::function<bool(const std::vector<Renewal>&)> done, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    const absl::Time deadline = absl::Now() + timeout;
    while (!done(renewals)) {
      if (absl::Now() > deadline) return false;
      mu.Unlock();
      absl::SleepFor(absl::Milliseconds(20));
      mu.Lock();
    }
    return true;
  }
};

// AdvanceUntil moves `clock` forward by `step` every 100 ms of real time (so the client's time
// runs faster than real time) until `done` holds for the recorder's renewals, or `timeout` of
// real time passes.
bool AdvanceUntil(OffsetClock& clock, Recorder& recorder, absl::Duration step,
                  std::function<bool(const std::vector<Recorder::Renewal>&)> done,
                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    {
      absl::MutexLock lock(&recorder.mu);
      if (done(recorder.renewals)) return true;
    }
    clock.Advance(step);
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

class TokenClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    WriteDevices(-1);
    WriteConfig(10);
  }

  // WriteDevices (re)writes the export file with dev0..dev49 but `except`, atomically (the
  // server reloads it).
  void WriteDevices(int except) {
    std::string devices;
    for (int i = 0; i < kDevices; ++i) {
      if (i == except) continue;
      devices += testing::ExportLine(absl::StrCat("dev", i), "", kKey, kKey);
    }
    testing::WriteFile(dir_ + "/devices.json.tmp", devices);
    ASSERT_EQ(rename((dir_ + "/devices.json.tmp").c_str(), (dir_ + "/devices.json").c_str()), 0);
  }
  void TearDown() override {
    StopServer();
    StopLocalServer();
  }

  // WriteConfig serves kHub with a TTL of `ttl` s, renewed at half of it (renew_after is
  // whole seconds: issued + floor(0.5..0.6 x ttl)), and a fast shutdown.
  void WriteConfig(int ttl) {
    testing::WriteFile(
        dir_ + "/sasmint.json",
        absl::StrCat(R"({"hubs": [{"host": ")", kHub, R"(", "device_files": ["devices.json"]}],
          "limits": {"default_ttl_seconds": )",
                     ttl, R"(, "min_ttl_seconds": 1, "max_ttl_seconds": 3600,
                     "renew_window_start": 0.5, "renew_window_end": 0.6,
                     "shutdown_drain_ms": 100, "shutdown_grace_seconds": 1}})"));
  }

  // StartServer runs `sasmint serve` on 127.0.0.1:port (0: a free one) and returns the port.
  int StartServer(int port = 0) {
    const std::string port_file = absl::StrCat(dir_, "/port", ++starts_);
    auto child =
        ChildProcess::Start({Bin(), "serve", "--config", dir_ + "/sasmint.json", "--listen",
                             absl::StrCat("127.0.0.1:", port), "--port-file", port_file},
                            dir_);
    EXPECT_THAT(child, IsOk());
    if (!child.ok()) return 0;
    server_.emplace(*std::move(child));
    auto text = testing::WaitForFile(port_file, absl::Seconds(30));
    EXPECT_THAT(text, IsOk()) << server_->ReadStderr();
    int out = 0;
    EXPECT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(text.value_or("0")), &out));
    return out;
  }

  // StopServer stops the server with SIGTERM, as an orchestrator does.
  void StopServer() {
    if (!server_.has_value()) return;
    server_->Signal(SIGTERM);
    auto code = server_->Wait(absl::Seconds(20));
    EXPECT_THAT(code, IsOk());
    server_.reset();
  }

  // StartLocalServer serves the export file in this process, with the same limits as
  // WriteConfig's, on `clock` (shared with the client), on 127.0.0.1:port (0: a free one), and
  // returns the port.
  int StartLocalServer(const Clock* clock, int port = 0) {
    local_store_ = std::make_unique<KeyStore>();
    local_admin_ = std::make_unique<KeyAdmin>(local_store_.get(), clock, KeyAdminOptions{});
    auto table = std::make_shared<IdentityTable>();
    EXPECT_THAT(LoadExportFile(dir_ + "/devices.json", kHub, table.get()), IsOk());
    EXPECT_THAT(local_admin_->Start(std::move(table)), IsOk());
    ServerOptions options;
    options.listen_address = absl::StrCat("127.0.0.1:", port);
    options.mint.default_ttl_seconds = 10;
    options.mint.min_ttl_seconds = 1;
    options.mint.max_ttl_seconds = 3600;
    options.mint.renew_window_start = 0.5;
    options.mint.renew_window_end = 0.6;
    auto server = Server::Start(options, local_store_.get(), clock, local_admin_.get());
    EXPECT_THAT(server, IsOk());
    if (!server.ok()) return 0;
    local_server_ = *std::move(server);
    local_server_->SetServing(true);
    return local_server_->port();
  }
  // StopLocalServer shuts the in-process server down as SIGTERM would (drain, then close).
  void StopLocalServer() {
    if (local_server_ == nullptr) return;
    local_server_->Shutdown(absl::Milliseconds(100), absl::Seconds(1));
    local_server_.reset();
    local_admin_.reset();
    local_store_.reset();
  }

  TokenClient::Options ClientOptions(int port, MintMode mode) {
    TokenClient::Options o;
    o.target = absl::StrCat("127.0.0.1:", port);
    o.mode = mode;
    o.batch_delay = absl::Milliseconds(5);
    o.renew_batch_delay = absl::Milliseconds(20);
    o.initial_backoff = absl::Milliseconds(50);
    o.max_backoff = absl::Seconds(1);
    o.get_min_validity = absl::Seconds(2);
    o.seed = 42;
    return o;
  }

  std::unique_ptr<TokenClient> MakeClient(const TokenClient::Options& options) {
    auto client = TokenClient::Create(options);
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string dir_;
  int starts_ = 0;
  std::optional<ChildProcess> server_;
  std::unique_ptr<KeyStore> local_store_;
  std::unique_ptr<KeyAdmin> local_admin_;
  std::unique_ptr<Server> local_server_;
};

class ModeTest : public TokenClientTest, public ::testing::WithParamInterface<MintMode> {};

std::string ModeName(const ::testing::TestParamInfo<MintMode>& info) {
  switch (info.param) {
    case MintMode::kUnary:
      return "Unary";
    case MintMode::kBatch:
      return "Batch";
    case MintMode::kStream:
      return "Stream";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(Modes, ModeTest,
                         ::testing::Values(MintMode::kUnary, MintMode::kBatch, MintMode::kStream),
                         ModeName);

TEST_P(ModeTest, GetMintsTheServersTokenAndServesItFromTheCache) {
  const int port = StartServer();
  auto client = MakeClient(ClientOptions(port, GetParam()));
  ASSERT_NE(client, nullptr);
  const absl::Time before = absl::Now();
  absl::StatusOr<Token> token = client->Get(Device(1));
  ASSERT_THAT(token, IsOk());
  EXPECT_THAT(token->text, StartsWith(absl::StrCat("SharedAccessSignature sr=", kHub,
                                                   "%2Fdevices%2Fdev1&sig=")));
  auto parsed = ParseToken(token->text);
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->expiry, absl::ToUnixSeconds(token->expires_at));
  EXPECT_EQ(token->text, ExpectedToken(Device(1), parsed->expiry));
  EXPECT_EQ(token->expires_at - token->server_time, absl::Seconds(10));  // the configured TTL
  EXPECT_EQ(token->renew_after - token->server_time, absl::Seconds(5));
  EXPECT_GE(token->server_time, absl::FromUnixSeconds(absl::ToUnixSeconds(before)));
  // Same clock on both sides: local times are the server's.
  EXPECT_EQ(token->local_expires_at, token->expires_at);

  absl::StatusOr<Token> again = client->Get(Device(1));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->text, token->text);
  const TokenClientStats stats = client->Stats();
  EXPECT_EQ(stats.rpcs, 1);
  EXPECT_EQ(stats.tokens_minted, 1);
  EXPECT_EQ(stats.cache_hits, 1);
  EXPECT_EQ(stats.identities, 1);
  EXPECT_EQ(stats.clock_skew_warnings, 0);

  // The server's errors come back at once, without retries.
  absl::StatusOr<Token> ghost = client->Get(Identity{kHub, "ghost", ""});
  EXPECT_EQ(ghost.status().code(), absl::StatusCode::kNotFound) << ghost.status();
  EXPECT_EQ(client->Stats().retries, 0);
  EXPECT_EQ(client->Stats().failures, 1);
}

TEST_P(ModeTest, ConcurrentGetsOfOneIdentityShareOneMint) {
  const int port = StartServer();
  TokenClient::Options options = ClientOptions(port, GetParam());
  options.batch_delay = absl::Milliseconds(50);  // the first Get's mint is surely still open
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  constexpr int kCallers = 32;
  std::vector<std::string> texts(kCallers);
  std::atomic<int> ready{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kCallers) {
      }
      absl::StatusOr<Token> t = client->Get(Device(7));
      texts[i] = t.ok() ? t->text : t.status().ToString();
    });
  }
  for (auto& t : callers) t.join();
  for (const std::string& text : texts) EXPECT_EQ(text, texts[0]);
  EXPECT_THAT(texts[0], StartsWith("SharedAccessSignature "));
  const TokenClientStats stats = client->Stats();
  EXPECT_EQ(stats.rpcs, 1);
  EXPECT_EQ(stats.tokens_minted, 1);
  EXPECT_EQ(stats.coalesced + stats.cache_hits, kCallers - 1);
  EXPECT_GT(stats.coalesced, 0);
}

TEST_P(ModeTest, ManyIdentitiesGoOutInBatches) {
  const int port = StartServer();
  auto client = MakeClient(ClientOptions(port, GetParam()));
  ASSERT_NE(client, nullptr);
  absl::Mutex mu;
  int answered = 0, ok = 0;
  for (int i = 0; i < kDevices; ++i) {
    client->GetAsync(Device(i), [&](absl::StatusOr<Token> t) {
      absl::MutexLock lock(&mu);
      ++answered;
      if (t.ok()) ++ok;
    });
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                        +[](int* n) { return *n == kDevices; }, &answered),
                                    absl::Seconds(20)));
    EXPECT_EQ(ok, kDevices);
  }
  const TokenClientStats stats = client->Stats();
  EXPECT_EQ(stats.tokens_minted, kDevices);
  if (GetParam() == MintMode::kUnary) {
    EXPECT_EQ(stats.rpcs, kDevices);
  } else {
    EXPECT_LE(stats.rpcs, 3);  // gathered for batch_delay
  }
}

TEST_P(ModeTest, CacheKeepsServingAndRenewsAcrossServerRestart) {
  OffsetClock clock;
  const int port = StartLocalServer(&clock);
  TokenClient::Options options = ClientOptions(port, GetParam());
  options.clock = &clock;
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  constexpr int kIds = 20;
  Recorder recorder(&clock);
  std::map<std::string, Token> first;
  for (int i = 0; i < kIds; ++i) {
    client->Watch(Device(i), recorder.Hooks());
    absl::StatusOr<Token> t = client->Get(Device(i));
    ASSERT_THAT(t, IsOk());
    first[Device(i).device_id] = *t;
  }
  clock.Advance(absl::Milliseconds(1500));
  StopLocalServer();
  const absl::Time stopped = clock.Now();
  // The server is gone: cached tokens are still served (no RPC needed).
  for (int i = 0; i < kIds; ++i) {
    absl::StatusOr<Token> t = client->Get(Device(i));
    ASSERT_THAT(t, IsOk());
    EXPECT_GT(t->local_expires_at, clock.Now());
  }
  clock.Advance(absl::Seconds(1));
  ASSERT_EQ(StartLocalServer(&clock, port), port);
  const absl::Time restarted = clock.Now();

  // Every identity is renewed twice after the restart, each renewal before the token it
  // replaces expires. The client's time runs five times faster than real time from here.
  const bool renewed = AdvanceUntil(
      clock, recorder, absl::Milliseconds(500),
      [&](const std::vector<Recorder::Renewal>& renewals) {
        std::map<std::string, int> after;
        for (const auto& r : renewals) {
          if (r.at > restarted) ++after[r.id.device_id];
        }
        if (after.size() < kIds) return false;
        for (const auto& [id, n] : after) {
          if (n < 2) return false;
        }
        return true;
      },
      absl::Seconds(30));
  EXPECT_TRUE(renewed);
  {
    absl::MutexLock lock(&recorder.mu);
    std::map<std::string, Token> current = first;
    for (const auto& r : recorder.renewals) {
      Token& previous = current[r.id.device_id];
      EXPECT_LT(r.at, previous.local_expires_at) << r.id.device_id << " lapsed";
      EXPECT_GT(r.token.expires_at, previous.expires_at);
      EXPECT_EQ(r.token.text, ExpectedToken(r.id, absl::ToUnixSeconds(r.token.expires_at)));
      previous = r.token;
    }
    // Renewals that fell into the gap were made good once the server was back.
    EXPECT_GT(clock.Now() - stopped, absl::Seconds(5));
  }
  const TokenClientStats stats = client->Stats();
  EXPECT_EQ(stats.expired_before_renewal, 0);
  EXPECT_GE(stats.renewals, 2 * kIds);
  if (GetParam() == MintMode::kStream) {
    EXPECT_GE(stats.stream_reopens, 1);
  }
  for (int i = 0; i < kIds; ++i) {
    absl::StatusOr<Token> t = client->Get(Device(i));
    ASSERT_THAT(t, IsOk());
    EXPECT_GT(t->expires_at, clock.Now() + absl::Seconds(2));
  }
}

TEST_P(ModeTest, GetWaitsForAServerThatComesUpAndRetriesWithBackoff) {
  const int port = FreePort();
  TokenClient::Options options = ClientOptions(port, GetParam());
  options.max_backoff = absl::Milliseconds(400);
  options.renew_initial_backoff = absl::Milliseconds(400);
  options.get_timeout = absl::Seconds(20);
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  absl::Notification done;
  absl::StatusOr<Token> result;
  client->GetAsync(Device(3), [&](absl::StatusOr<Token> t) {
    result = std::move(t);
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(1500));
  EXPECT_FALSE(done.HasBeenNotified());
  const TokenClientStats down = client->Stats();
  if (GetParam() == MintMode::kStream) {
    // A stream fails at once while nothing listens: the retries are paced by the backoff
    // (50 ms doubling to 400 ms, full jitter), not a busy loop.
    EXPECT_GE(down.failures, 3);
    EXPECT_LE(down.failures, 60);
    EXPECT_GE(down.retries, down.failures - 1);
  } else {
    // Unary and batch calls wait for the channel (wait_for_ready) within their deadline.
    EXPECT_LE(down.failures, 1);
  }
  ASSERT_EQ(StartServer(port), port);
  const absl::Time started = absl::Now();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - started, absl::Seconds(3));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->text, ExpectedToken(Device(3), absl::ToUnixSeconds(result->expires_at)));
}

TEST_P(ModeTest, GetGivesUpAfterGetTimeoutWithTheLastError) {
  TokenClient::Options options = ClientOptions(FreePort(), GetParam());
  options.get_timeout = absl::Seconds(1);
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<Token> t = client->Get(Device(1));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));
  if (GetParam() == MintMode::kStream) {
    EXPECT_EQ(t.status().code(), absl::StatusCode::kUnavailable) << t.status();
  } else {
    EXPECT_EQ(t.status().code(), absl::StatusCode::kDeadlineExceeded) << t.status();
  }
}

TEST_F(TokenClientTest, RenewsAtRenewAfterAndPushesTheNewTokenToHooks) {
  OffsetClock clock;
  const int port = StartLocalServer(&clock);
  TokenClient::Options options = ClientOptions(port, MintMode::kBatch);
  options.spread_first_renewal = false;
  options.clock = &clock;
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  Recorder recorder(&clock), forgotten(&clock);
  client->Watch(Device(1), recorder.Hooks());
  const uint64_t unwatched = client->Watch(Device(1), forgotten.Hooks());
  client->Unwatch(unwatched);
  client->Watch(Device(2), forgotten.Hooks());
  absl::StatusOr<Token> first = client->Get(Device(1));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(client->Get(Device(2)), IsOk());
  client->Forget(Device(2));  // no longer renewed

  // Nothing is due before renew_after; once the clock reaches it, the renewal goes out.
  clock.AdvanceTo(first->local_renew_after - absl::Milliseconds(500));
  absl::SleepFor(absl::Milliseconds(300));  // two turns of the client's scheduler
  {
    absl::MutexLock lock(&recorder.mu);
    EXPECT_TRUE(recorder.renewals.empty());
  }
  clock.AdvanceTo(first->local_renew_after);
  ASSERT_TRUE(recorder.WaitFor([](const auto& r) { return !r.empty(); }, absl::Seconds(5)));
  absl::MutexLock lock(&recorder.mu);
  ASSERT_EQ(recorder.renewals.size(), 1u);
  const Recorder::Renewal& renewal = recorder.renewals[0];
  // At renew_after (whole seconds), not earlier, and well before expiry.
  EXPECT_GE(renewal.at, first->local_renew_after);
  EXPECT_LT(renewal.at, first->local_renew_after + absl::Milliseconds(1500));
  EXPECT_LT(renewal.at, first->local_expires_at - absl::Seconds(3));
  EXPECT_NE(renewal.token.text, first->text);
  EXPECT_GT(renewal.token.expires_at, first->expires_at);
  EXPECT_EQ(renewal.token.text,
            ExpectedToken(Device(1), absl::ToUnixSeconds(renewal.token.expires_at)));
  // The AMQP hook: a CBS put-token for the device's audience, with the same new token.
  ASSERT_EQ(recorder.puts.size(), 1u);
  EXPECT_EQ(recorder.puts[0].first, absl::StrCat(kHub, "/devices/dev1"));
  EXPECT_EQ(recorder.puts[0].second, "servicebus.windows.net:sastoken");
  EXPECT_EQ(recorder.put_texts[0], renewal.token.text);
  // Get now serves the renewed token.
  absl::StatusOr<Token> now = client->Get(Device(1));
  ASSERT_THAT(now, IsOk());
  EXPECT_EQ(now->text, renewal.token.text);
  {
    absl::MutexLock forgotten_lock(&forgotten.mu);
    EXPECT_TRUE(forgotten.renewals.empty());
    EXPECT_TRUE(forgotten.puts.empty());
  }
  const TokenClientStats stats = client->Stats();
  EXPECT_EQ(stats.renewals, 1);
  EXPECT_EQ(stats.tokens_minted, 3);
  EXPECT_EQ(stats.identities, 1);
  EXPECT_EQ(stats.expired_before_renewal, 0);
}

TEST_F(TokenClientTest, RenewalStopsAndSaysSoWhenTheServerDropsTheIdentity) {
  OffsetClock clock;
  const int port = StartLocalServer(&clock);
  TokenClient::Options options = ClientOptions(port, MintMode::kBatch);
  options.spread_first_renewal = false;
  options.clock = &clock;
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  absl::Mutex mu;
  std::vector<absl::Status> failed;
  TokenHooks hooks;
  hooks.on_renewal_failed = [&](const Identity& id, const absl::Status& status) {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(id.device_id, "dev4");
    failed.push_back(status);
  };
  client->Watch(Device(4), hooks);
  absl::StatusOr<Token> token = client->Get(Device(4));
  ASSERT_THAT(token, IsOk());
  // The hub deletes dev4 (as a reload of an export file without it would); then the renewal is
  // due.
  const AdminIdentity dev4{kHub, "dev4", ""};
  ASSERT_THAT(local_admin_->DeleteKeys(absl::MakeConstSpan(&dev4, 1)), IsOk());
  clock.AdvanceTo(token->local_renew_after);
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(
                                +[](std::vector<absl::Status>* v) { return !v->empty(); }, &failed),
                            absl::Seconds(10)));
    EXPECT_EQ(failed[0].code(), absl::StatusCode::kNotFound) << failed[0];
  }
  // No retries: the identity is no longer renewed, however long its backoff would have been
  // (the clock moves past it, but not past the token's expiry).
  clock.Advance(absl::Seconds(3));
  absl::SleepFor(absl::Milliseconds(500));  // turns of the client's scheduler
  const TokenClientStats stats = client->Stats();
  EXPECT_EQ(stats.failures, 1);
  EXPECT_EQ(stats.retries, 0);
  EXPECT_EQ(stats.expired_before_renewal, 0);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(failed.size(), 1u);
}

TEST_F(TokenClientTest, FirstRenewalsAreSpreadBeforeRenewAfter) {
  const int port = StartServer();
  auto client = MakeClient(ClientOptions(port, MintMode::kBatch));
  ASSERT_NE(client, nullptr);
  Recorder recorder;
  std::map<std::string, Token> first;
  for (int i = 0; i < kDevices; ++i) client->Watch(Device(i), recorder.Hooks());
  for (int i = 0; i < kDevices; ++i) {
    absl::StatusOr<Token> t = client->Get(Device(i));
    ASSERT_THAT(t, IsOk());
    first[Device(i).device_id] = *t;
  }
  ASSERT_TRUE(recorder.WaitFor(
      [](const auto& renewals) {
        std::map<std::string, int> seen;
        for (const auto& r : renewals) ++seen[r.id.device_id];
        return seen.size() == kDevices;
      },
      absl::Seconds(12)));
  absl::MutexLock lock(&recorder.mu);
  std::map<std::string, absl::Time> first_renewal;
  for (const auto& r : recorder.renewals) first_renewal.emplace(r.id.device_id, r.at);
  int early = 0;
  absl::Time min = absl::InfiniteFuture(), max = absl::InfinitePast();
  for (const auto& [id, at] : first_renewal) {
    const Token& t = first[id];
    EXPECT_LT(at, t.local_renew_after + absl::Milliseconds(500)) << id;
    if (at < t.local_renew_after - absl::Seconds(1)) ++early;
    min = std::min(min, at);
    max = std::max(max, at);
  }
  // Uniform between minting and renew_after (about 4.5 s here): most come well before it,
  // spread over seconds rather than bunched at renew_after.
  EXPECT_GE(early, kDevices / 2);
  EXPECT_GT(max - min, absl::Seconds(2));
}

TEST_F(TokenClientTest, ClockSkewOverAMinuteIsWarnedOnceAndCorrectedFor) {
  const int port = StartServer();
  for (const int offset_s : {120, -120, 30}) {
    SCOPED_TRACE(absl::StrCat("local clock off by ", offset_s, " s"));
    const absl::Duration offset = absl::Seconds(offset_s);
    OffsetClock clock(offset);
    TokenClient::Options options = ClientOptions(port, MintMode::kBatch);
    options.clock = &clock;
    options.spread_first_renewal = false;
    absl::Mutex mu;
    std::vector<std::string> lines;
    std::vector<absl::Duration> callbacks;
    options.log = [&](const std::string& line) {
      absl::MutexLock lock(&mu);
      lines.push_back(line);
    };
    options.on_clock_skew = [&](absl::Duration skew) {
      absl::MutexLock lock(&mu);
      callbacks.push_back(skew);
    };
    auto client = MakeClient(options);
    ASSERT_NE(client, nullptr);
    Recorder recorder;
    client->Watch(Device(1), recorder.Hooks());
    absl::StatusOr<Token> t1 = client->Get(Device(1));
    ASSERT_THAT(t1, IsOk());
    ASSERT_THAT(client->Get(Device(2)), IsOk());
    absl::StatusOr<Token> again = client->Get(Device(1));
    ASSERT_THAT(again, IsOk());
    EXPECT_EQ(again->text, t1->text);  // a cache hit: the skewed clock does not re-mint

    const bool warn = offset_s > 60 || offset_s < -60;
    TokenClientStats stats = client->Stats();
    EXPECT_EQ(stats.clock_skew_warnings, warn ? 1 : 0);
    EXPECT_EQ(stats.rpcs, 2);
    EXPECT_GE(stats.clock_skew, offset - absl::Seconds(1));
    EXPECT_LE(stats.clock_skew, offset + absl::Seconds(1));
    // The token's instants on the local clock carry the skew (up to 1 s early, to be safe).
    if (warn) {
      EXPECT_GE(t1->local_expires_at, t1->expires_at + offset - absl::Milliseconds(1100));
      EXPECT_LE(t1->local_expires_at, t1->expires_at + offset + absl::Milliseconds(200));
    }
    if (warn) {
      absl::MutexLock lock(&mu);
      ASSERT_TRUE(mu.AwaitWithTimeout(
          absl::Condition(
              +[](std::vector<absl::Duration>* v) { return !v->empty(); }, &callbacks),
          absl::Seconds(5)));
      EXPECT_EQ(callbacks.size(), 1u);
      EXPECT_GE(callbacks[0], offset - absl::Seconds(1));
      EXPECT_LE(callbacks[0], offset + absl::Seconds(1));
      ASSERT_EQ(lines.size(), 1u);
      EXPECT_THAT(lines[0], HasSubstr(offset_s > 0 ? "120 s ahead of" : "120 s behind"));
      EXPECT_THAT(lines[0], Not(HasSubstr("SharedAccessSignature")));
    } else {
      absl::MutexLock lock(&mu);
      EXPECT_TRUE(lines.empty());
      EXPECT_TRUE(callbacks.empty());
    }
    if (offset_s == 120) {
      // Renewal runs on the server's time: on time, not at once and not late.
      ASSERT_TRUE(recorder.WaitFor([](const auto& r) { return !r.empty(); }, absl::Seconds(12)));
      absl::MutexLock lock(&recorder.mu);
      EXPECT_GT(recorder.renewals[0].at + offset, t1->local_renew_after - absl::Milliseconds(10));
      EXPECT_LT(recorder.renewals[0].at + offset, t1->local_expires_at);
      stats = client->Stats();
      EXPECT_EQ(stats.expired_before_renewal, 0);
      EXPECT_EQ(stats.clock_skew_warnings, 1);  // still once
    }
  }
}

TEST_F(TokenClientTest, DestructorAnswersWaitingGetsWithCancelled) {
  TokenClient::Options options = ClientOptions(FreePort(), MintMode::kBatch);
  options.rpc_timeout = absl::Seconds(60);
  options.get_timeout = absl::Seconds(60);
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  absl::Notification done;
  absl::Status status;
  client->GetAsync(Device(1), [&](absl::StatusOr<Token> t) {
    status = t.status();
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  client.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(done.HasBeenNotified());
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
}

TEST(TokenClientOptionsTest, CreateRejectsBadOptions) {
  TokenClient::Options options;
  EXPECT_EQ(TokenClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.target = "127.0.0.1:1";
  options.max_batch_size = 0;
  EXPECT_EQ(TokenClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.max_batch_size = 10;
  options.max_backoff = absl::Milliseconds(1);
  EXPECT_EQ(TokenClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.max_backoff = absl::Milliseconds(500);  // below renew_initial_backoff (1 s)
  EXPECT_EQ(TokenClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.max_backoff = absl::Seconds(1);
  EXPECT_THAT(TokenClient::Create(options), IsOk());
  EXPECT_EQ(Audience(Identity{"h.net", "d", "m"}), "h.net/devices/d/modules/m");
}

}  // namespace
}  // namespace sasmint::client
