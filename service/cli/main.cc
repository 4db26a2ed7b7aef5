// The `sasmint` binary: see service/cli/commands.h for its subcommands.
#include "absl/synchronization/mutex.h"
#include "service/cli/commands.h"

int main(int argc, char** argv) {
  // Debian's Abseil is built with deadlock detection on, which walks a lock graph on every
  // Mutex acquisition (gRPC's included). Lock ordering is checked in tests (TSan); in the
  // service it only costs CPU on the hot path.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return sasmint::cli::Main(argc, argv);
}
