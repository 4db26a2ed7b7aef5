// load_options.h: the command line of `sasmint-bench`, the sasmint load client.
//
// Contract (external scripts call it exactly like this):
//   sasmint-bench --target ADDR --hub HOST --devices EXPORT_FILE --mode unary|batch:N|stream:N
//                 --concurrency C --duration SECONDS [--rate TOKENS_PER_S] [--ttl S]
// plus the optional flags listed in kLoadUsage. Flags are parsed by sasmint::Flags, so
// `--flag value` and `--flag=value` both work. Thread-compatible.
#ifndef SASMINT_BENCH_LOAD_LOAD_OPTIONS_H_
#define SASMINT_BENCH_LOAD_LOAD_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/channel.h"

namespace sasmint::bench {

// How unary and batch RPCs are driven (stream mode always uses the callback API).
enum class LoadTransport {
  // gRPC's callback API: completions run on gRPC's callback threads, open-loop sends that are
  // ahead of schedule wait on the pacer thread.
  kCallback,
  // Completion queues: client_threads threads, each owning one CompletionQueue and its share of
  // the callers; the thread that takes a completion off its queue records it and issues that
  // caller's next request itself, and waits for due times in CompletionQueue::AsyncNext.
  kCq,
};

enum class LoadMode {
  kUnary,   // MintToken, one token per RPC
  kBatch,   // MintTokens, batch_size tokens per RPC
  kStream,  // StreamTokens, batch_size tokens per stream message
};

struct LoadOptions {
  std::string target;
  std::string hub;
  std::string devices_path;
  LoadMode mode = LoadMode::kUnary;
  int batch_size = 1;  // tokens per request: 1 for unary
  // Closed loop: callers each keep one request in flight. Open loop (rate set): callers send
  // on a fixed schedule, still at most one request in flight each.
  int concurrency = 1;
  int channels = 1;  // distinct TCP connections; default min(concurrency or streams, 4)
  int streams = 1;   // stream mode: callers share this many streams; default concurrency
  double duration_s = 10;
  double warmup_s = 1;
  std::optional<double> rate;  // offered tokens per second (open loop)
  uint32_t ttl_seconds = 0;    // 0: the server's default
  double timeout_s = 10;       // per-RPC deadline; whole-stream deadline is the run's length
  double connect_timeout_s = 5;
  bool include_disabled = false;
  bool quiet = false;          // no progress lines
  std::string series_path;     // --series: one CSV row per second
  std::string histogram_path;  // --histogram: the measured latency histogram as CSV
  // Default kCallback; kCq applies to unary and batch modes.
  LoadTransport transport = LoadTransport::kCallback;
  // kCq only: threads (one CompletionQueue each), at most concurrency. Default: the number of
  // CPUs in the process's affinity mask (sched_getaffinity), so 1 when pinned to one core.
  int client_threads = 1;
  // TLS to the server (--tls-ca, and --tls-cert/--tls-key for mTLS); plaintext when unset.
  ClientTlsOptions tls;

  // ModeName returns the mode as given on the command line: "unary", "batch:50", "stream:1000".
  std::string ModeName() const;
  // TransportName returns "callback" or "cq".
  std::string TransportName() const;
};

// AffinityCpuCount returns how many CPUs the calling thread may run on (at least 1).
int AffinityCpuCount();

// kLoadUsage is the help text (printed by `sasmint-bench --help`).
extern const char kLoadUsage[];

// ParseLoadOptions reads the arguments after the program name. INVALID_ARGUMENT, with a
// one-line message naming the flag, for an unknown, repeated, missing or out-of-range flag.
absl::StatusOr<LoadOptions> ParseLoadOptions(const std::vector<std::string>& args);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_LOAD_OPTIONS_H_
