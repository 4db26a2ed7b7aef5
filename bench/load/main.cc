// sasmint-bench: the sasmint load client (see load_options.h for the command line).
//
// Exit codes: 0 the run completed (its JSON result is the last line of stdout, errors or not),
// 1 a runtime failure (export file unreadable, server unreachable), 2 bad usage or input.
// Errors are one line on stderr.
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bench/load/identity_list.h"
#include "bench/load/load_driver.h"
#include "bench/load/load_options.h"
#include "bench/load/report.h"
#include "bench/load/request_payloads.h"
#include "bench/load/series_csv.h"

namespace sasmint::bench {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Fail(int exit_code, absl::string_view message) {
  std::cerr << "sasmint-bench: " << message << std::endl;
  return exit_code;
}

int Main(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    std::cout << kLoadUsage;
    return 0;
  }
  absl::StatusOr<LoadOptions> options = ParseLoadOptions(args);
  if (!options.ok()) return Fail(kExitUsage, options.status().message());

  absl::StatusOr<std::vector<IdentityRef>> identities =
      LoadIdentityList(options->devices_path, options->include_disabled);
  if (!identities.ok()) {
    // A file that cannot be read is a runtime failure; one that reads but is wrong is input.
    const bool input_error = identities.status().code() == absl::StatusCode::kInvalidArgument;
    return Fail(input_error ? kExitUsage : kExitFailure, identities.status().message());
  }
  absl::StatusOr<std::unique_ptr<RequestPayloads>> payloads =
      RequestPayloads::Build(*identities, options->hub, options->ttl_seconds, options->batch_size);
  if (!payloads.ok()) return Fail(kExitUsage, payloads.status().message());

  const bool quiet = options->quiet;
  absl::StatusOr<LoadResult> result =
      RunLoad(*options, payloads->get(), [quiet](const ProgressSample& sample) {
        if (!quiet) std::cerr << FormatProgress(sample) << std::endl;
      });
  if (!result.ok()) return Fail(kExitFailure, result.status().message());
  if (result->totals.unsent > 0) {
    std::cerr << "sasmint-bench: warning: the offered rate was not sustained: "
              << result->totals.unsent
              << " requests due in the window were never sent (their latency is counted at a "
                 "lower bound)"
              << std::endl;
  }
  if (!options->series_path.empty()) {
    if (absl::Status s = WriteSeriesCsv(options->series_path, result->series); !s.ok()) {
      return Fail(kExitFailure, s.message());
    }
  }
  if (!options->histogram_path.empty()) {
    if (absl::Status s = WriteHistogramCsv(options->histogram_path, result->totals.latency);
        !s.ok()) {
      return Fail(kExitFailure, s.message());
    }
  }
  std::cout << FormatReport(*options, identities->size(), *result) << std::endl;
  return 0;
}

}  // namespace
}  // namespace sasmint::bench

int main(int argc, char** argv) {
  // Debian's Abseil is built with deadlock detection on, which builds a lock graph on every
  // Mutex acquisition (gRPC's included): a few percent of the client's CPU for no benefit here.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return sasmint::bench::Main(std::vector<std::string>(argv + 1, argv + argc));
}
