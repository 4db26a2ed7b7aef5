#include "bench/load/load_options.h"

#include <sched.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/flags.h"
#include "common/status_macros.h"

namespace sasmint::bench {
namespace {

// Upper bounds that keep a typo from allocating the machine away; far above useful values.
constexpr int64_t kMaxConcurrency = 100000;
constexpr int64_t kMaxBatch = 1000000;
constexpr int64_t kMaxChannels = 1024;
constexpr int64_t kMaxClientThreads = 256;
constexpr double kMaxSeconds = 7 * 24 * 3600;

absl::StatusOr<int64_t> ParseCount(absl::string_view flag, absl::string_view text, int64_t lo,
                                   int64_t hi) {
  int64_t v;
  if (!absl::SimpleAtoi(text, &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be an integer from ", lo,
                                                   " to ", hi, ", not '", text, "'"));
  }
  return v;
}

absl::StatusOr<double> ParseSeconds(absl::string_view flag, absl::string_view text,
                                    bool allow_zero) {
  double v;
  if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) || v < 0 || (v == 0 && !allow_zero) ||
      v > kMaxSeconds) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be a number of seconds ",
                                                   allow_zero ? ">= 0" : "> 0", ", not '", text,
                                                   "'"));
  }
  return v;
}

absl::Status ParseMode(absl::string_view text, LoadOptions* out) {
  if (text == "unary") {
    out->mode = LoadMode::kUnary;
    out->batch_size = 1;
    return absl::OkStatus();
  }
  absl::string_view size;
  if (absl::StartsWith(text, "batch:")) {
    out->mode = LoadMode::kBatch;
    size = text.substr(6);
  } else if (absl::StartsWith(text, "stream:")) {
    out->mode = LoadMode::kStream;
    size = text.substr(7);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode must be unary, batch:N or stream:N, not '", text, "'"));
  }
  int64_t n;
  if (!absl::SimpleAtoi(size, &n) || n < 1 || n > kMaxBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mode ", text, ": N must be an integer from 1 to ", kMaxBatch));
  }
  out->batch_size = static_cast<int>(n);
  return absl::OkStatus();
}

}  // namespace

const char kLoadUsage[] =
    "usage: sasmint-bench --target ADDR --hub HOST --devices EXPORT_FILE\n"
    "                     --mode unary|batch:N|stream:N --concurrency C --duration SECONDS\n"
    "                     [--rate TOKENS_PER_S] [--ttl S] [--warmup SECONDS] [--channels K]\n"
    "                     [--streams S] [--timeout SECONDS] [--connect-timeout SECONDS]\n"
    "                     [--transport callback|cq] [--client-threads T]\n"
    "                     [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name N]]\n"
    "                     [--include-disabled] [--quiet] [--series FILE.csv]\n"
    "                     [--histogram FILE.csv]\n"
    "\n"
    "Sends MintToken (unary), MintTokens (batch:N) or StreamTokens (stream:N, N tokens per\n"
    "message) requests for the identities of an IoT Hub export file to a sasmint server.\n"
    "Closed loop by default (C callers, each sends when its previous request completes); with\n"
    "--rate, open loop: the rate is spread over the callers and latency is measured from each\n"
    "request's intended send time. Progress goes to stderr once a second; the last line of\n"
    "stdout is one JSON object with the results.\n"
    "\n"
    "  --warmup SECONDS      excluded from the results (default 1)\n"
    "  --channels K          TCP connections (default min(C, 4); streams: min(S, 4))\n"
    "  --streams S           stream mode: streams the C callers share (default C)\n"
    "  --timeout SECONDS     per-RPC deadline (default 10)\n"
    "  --connect-timeout S   give up if the server cannot be reached (default 5)\n"
    "  --transport callback|cq  how unary and batch RPCs are driven: gRPC's callback API, or\n"
    "                        completion queues polled by --client-threads threads that also\n"
    "                        keep the open-loop schedule (default callback; cq applies to\n"
    "                        unary and batch modes)\n"
    "  --client-threads T    cq transport: threads, one completion queue each (default: the\n"
    "                        CPUs this process may run on, at most C)\n"
    "  --tls-ca FILE         TLS: verify the server against this CA (plaintext without it);\n"
    "                        --tls-cert/--tls-key present a client certificate (mTLS),\n"
    "                        --tls-server-name the name expected in the server's certificate\n"
    "  --include-disabled    also ask for disabled identities (they fail FAILED_PRECONDITION)\n"
    "  --quiet               no progress lines\n"
    "  --series FILE.csv     one row per second: elapsed_s,phase,offered_rps,completed_rps,\n"
    "                        tokens_per_s,errors_per_s,p50_us,p99_us (everything completed in\n"
    "                        that second, warm-up and drain included; bench/load/plot.sh draws "
    "it)\n"
    "  --histogram FILE.csv  the measured latency histogram: upper_us,count,cumulative_fraction\n";

std::string LoadOptions::ModeName() const {
  switch (mode) {
    case LoadMode::kUnary:
      return "unary";
    case LoadMode::kBatch:
      return absl::StrCat("batch:", batch_size);
    case LoadMode::kStream:
      return absl::StrCat("stream:", batch_size);
  }
  return "unknown";
}

std::string LoadOptions::TransportName() const {
  return transport == LoadTransport::kCq ? "cq" : "callback";
}

int AffinityCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(CPU_COUNT(&set), 1);
}

namespace {

// ParseShape reads what runs at once: the mode, callers, streams and channels.
absl::Status ParseShape(const Flags& flags, LoadOptions* out) {
  if (auto v = flags.Get("mode")) RETURN_IF_ERROR(ParseMode(*v, out));
  if (auto v = flags.Get("concurrency")) {
    ASSIGN_OR_RETURN(const int64_t n, ParseCount("concurrency", *v, 1, kMaxConcurrency));
    out->concurrency = static_cast<int>(n);
  }
  if (auto v = flags.Get("streams")) {
    if (out->mode != LoadMode::kStream) {
      return absl::InvalidArgumentError("--streams applies to --mode stream:N only");
    }
    ASSIGN_OR_RETURN(const int64_t n, ParseCount("streams", *v, 1, out->concurrency));
    out->streams = static_cast<int>(n);
  } else {
    out->streams = out->concurrency;
  }
  const int connections_wanted = out->mode == LoadMode::kStream ? out->streams : out->concurrency;
  out->channels = std::min(connections_wanted, 4);
  if (auto v = flags.Get("channels")) {
    ASSIGN_OR_RETURN(const int64_t n, ParseCount("channels", *v, 1, kMaxChannels));
    out->channels = static_cast<int>(n);
  }
  return absl::OkStatus();
}

// ParseTiming reads the run's durations, the offered rate and the TTL asked for.
absl::Status ParseTiming(const Flags& flags, LoadOptions* out) {
  struct SecondsFlag {
    const char* name;
    double* field;
    bool allow_zero;
  };
  for (const SecondsFlag& f :
       {SecondsFlag{"duration", &out->duration_s, false},
        SecondsFlag{"warmup", &out->warmup_s, true}, SecondsFlag{"timeout", &out->timeout_s, false},
        SecondsFlag{"connect-timeout", &out->connect_timeout_s, false}}) {
    if (auto v = flags.Get(f.name)) {
      ASSIGN_OR_RETURN(*f.field, ParseSeconds(f.name, *v, f.allow_zero));
    }
  }
  if (auto v = flags.Get("rate")) {
    double rate;
    if (!absl::SimpleAtod(*v, &rate) || !std::isfinite(rate) || rate <= 0 || rate > 1e9) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rate must be tokens per second > 0, not '", *v, "'"));
    }
    out->rate = rate;
  }
  if (auto v = flags.Get("ttl")) {
    ASSIGN_OR_RETURN(const int64_t n, ParseCount("ttl", *v, 0, UINT32_MAX));
    out->ttl_seconds = static_cast<uint32_t>(n);
  }
  return absl::OkStatus();
}

// ParseTransport reads the client API (callback or completion queue), its threads and TLS.
absl::Status ParseTransport(const Flags& flags, LoadOptions* out) {
  // Callback stays the default: cq did not measure cheaper per paced call (bench/README.md).
  out->transport = LoadTransport::kCallback;
  if (auto v = flags.Get("transport")) {
    if (*v == "callback") {
      out->transport = LoadTransport::kCallback;
    } else if (*v == "cq") {
      if (out->mode == LoadMode::kStream) {
        return absl::InvalidArgumentError("--transport cq applies to unary and batch modes only");
      }
      out->transport = LoadTransport::kCq;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--transport must be callback or cq, not '", *v, "'"));
    }
  }
  out->client_threads = std::min(AffinityCpuCount(), out->concurrency);
  if (auto v = flags.Get("client-threads")) {
    if (out->transport != LoadTransport::kCq) {
      return absl::InvalidArgumentError("--client-threads applies to --transport cq only");
    }
    ASSIGN_OR_RETURN(const int64_t n,
                     ParseCount("client-threads", *v, 1,
                                std::min<int64_t>(kMaxClientThreads, out->concurrency)));
    out->client_threads = static_cast<int>(n);
  }
  out->tls.ca_file = flags.Get("tls-ca").value_or("");
  out->tls.cert_file = flags.Get("tls-cert").value_or("");
  out->tls.key_file = flags.Get("tls-key").value_or("");
  out->tls.server_name = flags.Get("tls-server-name").value_or("");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LoadOptions> ParseLoadOptions(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(const Flags flags, Flags::Parse(args,
                                                   {"target",
                                                    "hub",
                                                    "devices",
                                                    "mode",
                                                    "concurrency",
                                                    "duration",
                                                    "rate",
                                                    "ttl",
                                                    "warmup",
                                                    "channels",
                                                    "streams",
                                                    "timeout",
                                                    "connect-timeout",
                                                    "transport",
                                                    "client-threads",
                                                    "tls-ca",
                                                    "tls-cert",
                                                    "tls-key",
                                                    "tls-server-name",
                                                    "series",
                                                    "histogram"},
                                                   {"include-disabled", "quiet"}));
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  LoadOptions out;
  struct RequiredFlag {
    const char* name;
    std::string* field;
    const char* what;
  };
  for (const RequiredFlag& f :
       {RequiredFlag{"target", &out.target, "ADDR"}, RequiredFlag{"hub", &out.hub, "HOST"},
        RequiredFlag{"devices", &out.devices_path, "EXPORT_FILE"}}) {
    std::optional<std::string> v = flags.Get(f.name);
    if (!v || v->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("missing --", f.name, " ", f.what));
    }
    *f.field = *std::move(v);
  }
  RETURN_IF_ERROR(ParseShape(flags, &out));
  RETURN_IF_ERROR(ParseTiming(flags, &out));
  RETURN_IF_ERROR(ParseTransport(flags, &out));
  out.include_disabled = flags.Has("include-disabled");
  out.quiet = flags.Has("quiet");
  out.series_path = flags.Get("series").value_or("");
  out.histogram_path = flags.Get("histogram").value_or("");
  return out;
}

}  // namespace sasmint::bench
