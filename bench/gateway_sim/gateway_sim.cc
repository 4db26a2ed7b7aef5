// sasmint-gateway-sim: a gateway's fleet driven through the client library (client/) against a
// local `sasmint serve` that it starts, restarts in the middle, and stops.
//
//   sasmint-gateway-sim [--devices N] [--duration S] [--ttl S] [--restart-at S]
//                       [--mode unary|batch:N|stream:N] [--server-bin PATH] [--export FILE]
//                       [--hub HOST] [--work-dir DIR] [--reconnects-per-second R] [--seed S]
//                       [--initial-backoff-ms MS] [--renew-backoff-ms MS] [--max-backoff-ms MS]
//                       [--series CSV] [--quiet]
//
// Every device connects at once (Get; the cold start of a gateway), then half of them are MQTT
// devices (on_token_renewed: reconnect with the new password) and half AMQP devices
// (on_put_token: CBS put-token). Each hook checks, per device, that the new token arrived
// before the previous one expired. Meanwhile random devices reconnect (Get, from the cache).
// At --restart-at the server gets SIGTERM and is started again on the same port. Progress
// lines go to stderr; the last line on stdout is one JSON object with tokens_minted,
// expired_before_renewal, renewals_per_second_mean/_peak, peak_over_mean (1-second buckets
// from the end of the connect wave to the end of the run), clock_skew_warnings,
// restart_gap_ms and more. Exit code 0 if the run completed (whatever its figures), 1 on a
// runtime failure, 2 on bad usage.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load/histogram.h"
#include "bench/load/identity_list.h"
#include "client/token_client.h"
#include "common/flags.h"
#include "common/status_macros.h"
#include "signer/encoding.h"

extern char** environ;

namespace sasmint::bench {
namespace {

using client::Identity;
using client::MintMode;
using client::Token;
using client::TokenClient;

struct SimOptions {
  int64_t devices = 100000;
  double duration_s = 240;
  int ttl_s = 60;
  double restart_at_s = 120;  // 0: no restart
  MintMode mode = MintMode::kStream;
  int batch_size = 1000;
  std::string mode_name = "stream:1000";
  std::string server_bin;
  std::string export_path;
  std::string hub = "gateway-sim.azure-devices.net";
  std::string work_dir;
  std::string series_path;  // CSV of renewals per second
  double reconnects_per_second = 200;
  uint64_t seed = 1;
  int initial_backoff_ms = 100;
  int renew_backoff_ms = 1000;
  int max_backoff_ms = 5000;
  bool quiet = false;
};

int Usage(absl::string_view message) {
  std::cerr << "sasmint-gateway-sim: " << message << std::endl;
  return 2;
}

int Fail(absl::string_view message) {
  std::cerr << "sasmint-gateway-sim: " << message << std::endl;
  return 1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Server runs `sasmint serve` as a child process (stdout and stderr to files in the work dir).
class Server {
 public:
  Server(std::string bin, std::string dir, std::string config)
      : bin_(std::move(bin)), dir_(std::move(dir)), config_(std::move(config)) {}
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Start starts the server on 127.0.0.1:port (0: a free port) and waits until it listens;
  // returns its port.
  absl::StatusOr<int> Start(int port) {
    const std::string port_file = absl::StrCat(dir_, "/port.", ++starts_);
    const std::string log = absl::StrCat(dir_, "/server.", starts_, ".log");
    std::vector<std::string> argv = {bin_,          "serve",    "--config",
                                     config_,       "--listen", absl::StrCat("127.0.0.1:", port),
                                     "--port-file", port_file};
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("cannot run ", bin_, ": errno ", rc));
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(300);
    while (absl::Now() < deadline) {
      const std::string text(absl::StripAsciiWhitespace(ReadFile(port_file)));
      int bound = 0;
      if (!text.empty() && absl::SimpleAtoi(text, &bound)) return bound;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(absl::StrCat("the server exited; see ", log));
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::DeadlineExceededError(absl::StrCat("the server did not listen; see ", log));
  }

  // Stop sends SIGTERM and waits for the exit; returns the exit code.
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  const std::string bin_, dir_, config_;
  pid_t pid_ = -1;
  int starts_ = 0;
};

// WriteExport writes `n` synthetic devices (random keys) as an IoT Hub export file.
absl::Status WriteExport(const std::string& path, int64_t n, uint64_t seed) {
  FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) return absl::NotFoundError(absl::StrCat("cannot write ", path));
  std::mt19937_64 rng(seed);
  uint8_t key[32];
  std::string line;
  for (int64_t i = 0; i < n; ++i) {
    line.clear();
    absl::StrAppend(&line, R"({"id":"sim-)", i, R"(","status":"enabled","authentication":)",
                    R"({"type":"sas","symmetricKey":{"primaryKey":")");
    for (size_t b = 0; b < sizeof(key); b += 8) {
      const uint64_t v = rng();
      for (size_t j = 0; j < 8; ++j) key[b + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    line += Base64Encode(absl::MakeConstSpan(key, sizeof(key)));
    line += "\"}}}\n";
    std::fwrite(line.data(), 1, line.size(), out);
  }
  if (std::fclose(out) != 0) return absl::InternalError(absl::StrCat("error writing ", path));
  return absl::OkStatus();
}

absl::StatusOr<SimOptions> ParseOptions(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args,
                            {"devices", "duration", "ttl", "restart-at", "mode", "server-bin",
                             "export", "hub", "work-dir", "reconnects-per-second", "seed",
                             "initial-backoff-ms", "renew-backoff-ms", "max-backoff-ms", "series"},
                            {"quiet"});
  if (!flags.ok()) return flags.status();
  SimOptions o;
  const auto number = [&](const char* name, auto* out) -> absl::Status {
    std::optional<std::string> v = flags->Get(name);
    if (!v.has_value()) return absl::OkStatus();
    bool ok;
    if constexpr (std::is_same_v<decltype(out), double*>) {
      ok = absl::SimpleAtod(*v, out);
    } else {
      ok = absl::SimpleAtoi(*v, out);
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("--", name, " must be a number"));
    return absl::OkStatus();
  };
  for (absl::Status s :
       {number("devices", &o.devices), number("duration", &o.duration_s), number("ttl", &o.ttl_s),
        number("restart-at", &o.restart_at_s),
        number("reconnects-per-second", &o.reconnects_per_second), number("seed", &o.seed),
        number("initial-backoff-ms", &o.initial_backoff_ms),
        number("renew-backoff-ms", &o.renew_backoff_ms),
        number("max-backoff-ms", &o.max_backoff_ms)}) {
    if (!s.ok()) return s;
  }
  if (o.devices < 1 || o.duration_s <= 0 || o.ttl_s < 2 || o.restart_at_s < 0 ||
      o.reconnects_per_second < 0 || o.initial_backoff_ms < 1 || o.renew_backoff_ms < 1 ||
      o.max_backoff_ms < std::max(o.initial_backoff_ms, o.renew_backoff_ms)) {
    return absl::InvalidArgumentError("numbers out of range");
  }
  if (auto mode = flags->Get("mode")) {
    o.mode_name = *mode;
    absl::string_view m = *mode;
    if (m == "unary") {
      o.mode = MintMode::kUnary;
      o.batch_size = 1;
    } else if (absl::ConsumePrefix(&m, "batch:") || absl::ConsumePrefix(&m, "stream:")) {
      o.mode = absl::StartsWith(*mode, "batch") ? MintMode::kBatch : MintMode::kStream;
      if (!absl::SimpleAtoi(m, &o.batch_size) || o.batch_size < 1) {
        return absl::InvalidArgumentError("--mode batch:N or stream:N needs N >= 1");
      }
    } else {
      return absl::InvalidArgumentError("--mode is unary, batch:N or stream:N");
    }
  }
  if (auto bin = flags->Get("server-bin")) {
    o.server_bin = *bin;
  } else {
    // The sibling binary: bin/sasmint beside bin/sasmint-gateway-sim.
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : ".";
    dir = dir.substr(0, dir.rfind('/'));
    o.server_bin = dir + "/sasmint";
  }
  o.export_path = flags->Get("export").value_or("");
  o.hub = flags->Get("hub").value_or(o.hub);
  o.work_dir = flags->Get("work-dir").value_or("");
  o.series_path = flags->Get("series").value_or("");
  o.quiet = flags->Has("quiet");
  return o;
}

// DeviceState is what a simulated device knows: when its current token expires.
struct DeviceState {
  std::atomic<int64_t> expires_ms{0};  // Unix ms; 0 until connected
};

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Rate is a renewal series' mean and peak over its 1-second buckets.
struct Rate {
  double mean = 0;
  int64_t peak = 0;
  size_t peak_at = 0;
};

// Simulation is one run: the fleet, the server, the client, and what the devices observed.
// Its phases run in order (Prepare, Watch, Connect, Run, Report); each returns OK or the failure
// that ends the run.
class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : o_(o) {}

  // Prepare makes the work directory, the export file and the configuration, starts the server
  // and creates the client.
  absl::Status Prepare() {
    dir_ = o_.work_dir;
    if (!dir_.empty() && mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create ", dir_));
    }
    if (dir_.empty()) {
      std::string tmpl = "/tmp/sasmint-gateway-sim-XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) {
        return absl::InternalError("cannot create a work directory");
      }
      dir_ = tmpl;
    }
    export_path_ = o_.export_path;
    if (export_path_.empty()) {
      export_path_ = dir_ + "/devices.json";
      RETURN_IF_ERROR(WriteExport(export_path_, o_.devices, o_.seed));
    }
    ASSIGN_OR_RETURN(std::vector<IdentityRef> refs, LoadIdentityList(export_path_, false));
    if (static_cast<int64_t>(refs.size()) > o_.devices) refs.resize(o_.devices);
    ids_.reserve(refs.size());
    for (const IdentityRef& r : refs) ids_.push_back(Identity{o_.hub, r.device_id, r.module_id});
    devices_ = std::vector<DeviceState>(ids_.size());

    const std::string config = dir_ + "/sasmint.json";
    std::ofstream(config) << absl::StrCat(
        R"({"hubs": [{"host": ")", o_.hub, R"(", "device_files": [")", export_path_,
        R"("]}], "limits": {"default_ttl_seconds": )", o_.ttl_s, R"(, "min_ttl_seconds": )",
        std::min(o_.ttl_s, 60), R"(, "max_ttl_seconds": )", std::max(o_.ttl_s, 86400),
        R"(, "max_batch_size": )", std::max(o_.batch_size, 10000),
        R"(, "shutdown_drain_ms": 500, "shutdown_grace_seconds": 2}})");
    server_.emplace(o_.server_bin, dir_, config);
    ASSIGN_OR_RETURN(port_, server_->Start(0));

    TokenClient::Options options;
    options.target = absl::StrCat("127.0.0.1:", port_);
    options.mode = o_.mode;
    options.max_batch_size = o_.batch_size;
    options.ttl_seconds = static_cast<uint32_t>(o_.ttl_s);
    options.get_timeout = absl::Seconds(60);
    options.rpc_timeout = absl::Seconds(10);
    options.initial_backoff = absl::Milliseconds(o_.initial_backoff_ms);
    options.renew_initial_backoff = absl::Milliseconds(o_.renew_backoff_ms);
    options.max_backoff = absl::Milliseconds(o_.max_backoff_ms);
    options.seed = o_.seed;
    ASSIGN_OR_RETURN(client_, TokenClient::Create(options));
    start_ = absl::Now();
    base_s_ = absl::ToUnixMillis(start_) / 1000;
    buckets_ = static_cast<size_t>(o_.duration_s) + 120;
    renewals_at_ = std::vector<std::atomic<int64_t>>(buckets_);
    signed_at_ = std::vector<std::atomic<int64_t>>(buckets_);
    return absl::OkStatus();
  }

  // Watch registers every device's hook: half MQTT (reconnect with the new password), half
  // AMQP (put-token on the open link).
  void Watch() {
    for (size_t i = 0; i < ids_.size(); ++i) {
      client::TokenHooks hooks;
      if (i % 2 == 0) {
        hooks.on_token_renewed = [this, i](const Identity&, const Token& t) {
          ++mqtt_reconnects_;
          OnRenewed(i, t);
        };
      } else {
        hooks.on_put_token = [this, i](const Identity&, const client::PutToken& put) {
          ++amqp_put_tokens_;
          OnRenewed(i, *put.token);
        };
      }
      client_->Watch(ids_[i], std::move(hooks));
    }
  }

  // Connect is the cold start: every device asks for its token at once.
  absl::Status Connect() {
    const size_t n = ids_.size();
    std::atomic<int64_t> connected{0};
    absl::Notification all_connected;
    for (size_t i = 0; i < n; ++i) {
      client_->GetAsync(ids_[i], [&, i](absl::StatusOr<Token> t) {
        if (t.ok()) {
          int64_t expected = 0;
          devices_[i].expires_ms.compare_exchange_strong(expected,
                                                         absl::ToUnixMillis(t->expires_at));
        } else {
          ++connect_errors_;
        }
        if (++connected == static_cast<int64_t>(n)) all_connected.Notify();
      });
    }
    if (!all_connected.WaitForNotificationWithTimeout(absl::Seconds(300))) {
      return absl::DeadlineExceededError(
          absl::StrCat("only ", connected.load(), " of ", n, " devices connected"));
    }
    connect_s_ = absl::ToDoubleSeconds(absl::Now() - start_);
    connect_end_ms_ = NowMs();
    if (!o_.quiet) {
      std::cerr << absl::StrFormat(
                       "sasmint-gateway-sim: %d devices connected in %.2f s (%d errors)", n,
                       connect_s_, connect_errors_.load())
                << std::endl;
    }
    return absl::OkStatus();
  }

  // Run lets renewals happen for the duration, with random reconnects (Gets served from the
  // cache), the server restart at --restart-at, and a progress line every 5 s.
  absl::Status Run() {
    std::atomic<bool> stop_probes{false};
    std::thread prober([&] { Probe(stop_probes); });
    absl::Status status = absl::OkStatus();
    bool restarted = o_.restart_at_s <= 0;
    int64_t last_renewals = 0;
    absl::Time last_progress = absl::Now();
    const absl::Time end = start_ + absl::Seconds(o_.duration_s);
    while (status.ok() && absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(50));
      const absl::Time now = absl::Now();
      if (!restarted && now >= start_ + absl::Seconds(o_.restart_at_s)) {
        restarted = true;
        status = RestartServer();
      }
      if (!o_.quiet && now - last_progress >= absl::Seconds(5)) {
        const client::TokenClientStats s = client_->Stats();
        const int64_t r = renewals_.load();
        std::cerr << absl::StrFormat(
                         "sasmint-gateway-sim: %6.1fs renewals %7.1f/s minted %d failures %d "
                         "retries %d lapses %d",
                         absl::ToDoubleSeconds(now - start_),
                         (r - last_renewals) / absl::ToDoubleSeconds(now - last_progress),
                         s.tokens_minted, s.failures, s.retries, lapses_.load())
                  << std::endl;
        last_renewals = r;
        last_progress = now;
      }
    }
    stop_probes = true;
    prober.join();
    return status;
  }

  // Report stops the client and the server and prints the JSON line.
  void Report() {
    const int64_t end_ms = NowMs();
    // Every device still holds a valid token at the end.
    int64_t expired_at_end = 0;
    for (const DeviceState& d : devices_) {
      if (d.expires_ms.load() <= end_ms) ++expired_at_end;
    }
    const client::TokenClientStats stats = client_->Stats();
    client_.reset();
    const int final_exit = server_->Stop();
    // A generated export file is 300 bytes per device; the logs stay in the work directory.
    if (o_.export_path.empty()) std::remove(export_path_.c_str());

    // Renewal rates per 1-second bucket, from the first whole second after the connect wave to
    // the last whole second of the run.
    const size_t first = static_cast<size_t>(connect_end_ms_ / 1000 - base_s_) + 1;
    const size_t last = std::min(buckets_, static_cast<size_t>(end_ms / 1000 - base_s_));
    const Rate delivered = RateOf(renewals_at_, first, last);
    const Rate signed_rate = RateOf(signed_at_, first, last);
    const double seconds = last > first ? static_cast<double>(last - first) : 0;
    if (!o_.series_path.empty()) {
      std::ofstream out(o_.series_path);
      out << "second,renewals_delivered,renewals_signed\n";
      for (size_t b = 0; b < last; ++b) {
        out << b << "," << renewals_at_[b].load() << "," << signed_at_[b].load() << "\n";
      }
    }
    const int64_t recovery_ms = first_after_restart_ms_.load() == INT64_MAX
                                    ? -1
                                    : first_after_restart_ms_.load() - restart_ready_ms_.load();
    const int64_t min_margin = min_margin_ms_.load() == INT64_MAX ? -1 : min_margin_ms_.load();
    const auto ms = [](int64_t ns) {
      return absl::StrFormat("%.2f", static_cast<double>(ns) / 1e6);
    };
    int64_t probe_p99_ns = 0;
    {
      absl::MutexLock lock(&probe_mu_);
      probe_p99_ns = probe_latency_.ValueAtPercentile(99);
    }
    std::cout << "{\"devices\":" << ids_.size() << ",\"mode\":\"" << o_.mode_name
              << "\",\"ttl\":" << o_.ttl_s << ",\"duration_seconds\":" << o_.duration_s
              << ",\"restart_at_seconds\":" << o_.restart_at_s
              << absl::StrFormat(",\"connect_seconds\":%.2f", connect_s_)
              << ",\"connect_errors\":" << connect_errors_.load()
              << ",\"tokens_minted\":" << stats.tokens_minted
              << ",\"renewals\":" << renewals_.load()
              << ",\"mqtt_reconnects\":" << mqtt_reconnects_.load()
              << ",\"amqp_put_tokens\":" << amqp_put_tokens_.load()
              << ",\"expired_before_renewal\":" << stats.expired_before_renewal
              << ",\"lapses_seen_by_devices\":" << lapses_.load()
              << ",\"expired_at_end\":" << expired_at_end
              << absl::StrFormat(",\"min_margin_s\":%.3f", min_margin / 1000.0)
              << ",\"margin_p1_s\":" << absl::StrFormat("%.3f", margin_.ValueAtPercentile(1) / 1e9)
              << absl::StrFormat(",\"renewals_per_second_mean\":%.1f", delivered.mean)
              << ",\"renewals_per_second_peak\":" << delivered.peak
              << ",\"peak_second\":" << delivered.peak_at
              << absl::StrFormat(",\"peak_over_mean\":%.3f",
                                 delivered.mean > 0 ? delivered.peak / delivered.mean : 0.0)
              << ",\"signed_per_second_peak\":" << signed_rate.peak
              << ",\"signed_peak_second\":" << signed_rate.peak_at
              << absl::StrFormat(",\"signed_peak_over_mean\":%.3f",
                                 signed_rate.mean > 0 ? signed_rate.peak / signed_rate.mean : 0.0)
              << ",\"rate_window_seconds\":" << static_cast<int64_t>(seconds)
              << ",\"clock_skew_warnings\":" << stats.clock_skew_warnings
              << ",\"restart_gap_ms\":" << restart_gap_ms_
              << ",\"server_down_ms\":" << server_down_ms_ << ",\"recovery_ms\":" << recovery_ms
              << ",\"rpcs\":" << stats.rpcs << ",\"failures\":" << stats.failures
              << ",\"retries\":" << stats.retries << ",\"stream_reopens\":" << stats.stream_reopens
              << ",\"reconnect_gets\":" << probes_.load()
              << ",\"reconnect_gets_invalid\":" << probe_invalid_.load()
              << ",\"reconnect_get_p99_ms\":" << ms(probe_p99_ns) << ",\"server_exit_codes\":["
              << old_exit_ << "," << final_exit << "]}" << std::endl;
  }

 private:
  // OnRenewed is each device's check: the new token came before the old one expired.
  void OnRenewed(size_t i, const Token& t) {
    const int64_t now = NowMs();
    const int64_t previous = devices_[i].expires_ms.exchange(absl::ToUnixMillis(t.expires_at));
    if (previous != 0 && now >= previous) ++lapses_;
    if (previous != 0) {
      margin_.Record((previous - now) * 1000000);
      int64_t m = min_margin_ms_.load();
      while (previous - now < m && !min_margin_ms_.compare_exchange_weak(m, previous - now)) {
      }
    }
    ++renewals_;
    const size_t bucket = static_cast<size_t>(now / 1000 - base_s_);
    if (bucket < buckets_) ++renewals_at_[bucket];
    const int64_t signed_bucket = absl::ToUnixSeconds(t.server_time) - base_s_;
    if (signed_bucket >= 0 && static_cast<size_t>(signed_bucket) < buckets_) {
      ++signed_at_[signed_bucket];
    }
    if (now >= restart_ready_ms_.load()) {
      int64_t first = first_after_restart_ms_.load();
      while (now < first && !first_after_restart_ms_.compare_exchange_weak(first, now)) {
      }
    }
  }

  // Probe makes random devices reconnect at --reconnects-per-second until `stop`.
  void Probe(const std::atomic<bool>& stop) {
    std::mt19937_64 rng(o_.seed * 7 + 1);
    double owed = 0;
    while (!stop.load()) {
      absl::SleepFor(absl::Milliseconds(10));
      owed += o_.reconnects_per_second / 100;
      for (; owed >= 1; owed -= 1) {
        const size_t i = rng() % ids_.size();
        const absl::Time asked = absl::Now();
        ++probes_;
        client_->GetAsync(ids_[i], [this, asked](absl::StatusOr<Token> t) {
          const absl::Time now = absl::Now();
          if (!t.ok() || t->expires_at <= now) ++probe_invalid_;
          absl::MutexLock lock(&probe_mu_);
          probe_latency_.Record(absl::ToInt64Nanoseconds(now - asked));
        });
      }
    }
  }

  // RestartServer sends the server SIGTERM and starts it again on the same port.
  absl::Status RestartServer() {
    const absl::Time sigterm = absl::Now();
    old_exit_ = server_->Stop();
    const absl::Time exited = absl::Now();
    RETURN_IF_ERROR(server_->Start(port_).status());
    const absl::Time ready = absl::Now();
    restart_ready_ms_ = absl::ToUnixMillis(ready);
    restart_gap_ms_ = absl::ToInt64Milliseconds(ready - sigterm);
    server_down_ms_ = absl::ToInt64Milliseconds(ready - exited);
    if (!o_.quiet) {
      std::cerr << absl::StrFormat(
                       "sasmint-gateway-sim: server restarted on port %d: SIGTERM to "
                       "listening %d ms (old exit code %d)",
                       port_, restart_gap_ms_, old_exit_)
                << std::endl;
    }
    return absl::OkStatus();
  }

  static Rate RateOf(const std::vector<std::atomic<int64_t>>& series, size_t first, size_t last) {
    Rate r;
    int64_t sum = 0;
    for (size_t b = first; b < last; ++b) {
      sum += series[b].load();
      if (series[b].load() > r.peak) {
        r.peak = series[b].load();
        r.peak_at = b;
      }
    }
    r.mean = last > first ? static_cast<double>(sum) / static_cast<double>(last - first) : 0;
    return r;
  }

  const SimOptions& o_;
  std::string dir_;
  std::string export_path_;
  std::vector<Identity> ids_;
  std::vector<DeviceState> devices_;
  std::optional<Server> server_;
  int port_ = 0;
  std::unique_ptr<TokenClient> client_;
  absl::Time start_;
  int64_t base_s_ = 0;  // the start's second: bucket 0 of the renewal series
  size_t buckets_ = 0;
  // Renewals per wall-clock second: when the device got the token (hook call), and when the
  // server signed it (server_time).
  std::vector<std::atomic<int64_t>> renewals_at_, signed_at_;
  std::atomic<int64_t> lapses_{0}, renewals_{0}, mqtt_reconnects_{0}, amqp_put_tokens_{0};
  std::atomic<int64_t> min_margin_ms_{INT64_MAX};
  std::atomic<int64_t> restart_ready_ms_{INT64_MAX}, first_after_restart_ms_{INT64_MAX};
  LatencyHistogram margin_;  // validity left when the renewed token arrived (callback thread)
  std::atomic<int64_t> connect_errors_{0};
  double connect_s_ = 0;
  int64_t connect_end_ms_ = 0;
  std::atomic<int64_t> probes_{0}, probe_invalid_{0};
  absl::Mutex probe_mu_;
  LatencyHistogram probe_latency_ ABSL_GUARDED_BY(probe_mu_);
  int64_t restart_gap_ms_ = -1, server_down_ms_ = -1;
  int old_exit_ = -1;
};

int Main(const std::vector<std::string>& args) {
  absl::StatusOr<SimOptions> parsed = ParseOptions(args);
  if (!parsed.ok()) return Usage(parsed.status().message());
  Simulation sim(*parsed);
  if (absl::Status s = sim.Prepare(); !s.ok()) return Fail(s.message());
  sim.Watch();
  if (absl::Status s = sim.Connect(); !s.ok()) return Fail(s.message());
  if (absl::Status s = sim.Run(); !s.ok()) return Fail(s.message());
  sim.Report();
  return 0;
}

}  // namespace
}  // namespace sasmint::bench

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  return sasmint::bench::Main(std::vector<std::string>(argv + 1, argv + argc));
}
