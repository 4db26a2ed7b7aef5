#include "bench/load/outcome.h"

namespace sasmint::bench {

absl::string_view ErrorCodeName(int slot) {
  static constexpr absl::string_view kNames[kCodeSlots] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
      "INVALID_CODE",
  };
  return slot >= 0 && slot < kCodeSlots ? kNames[slot] : kNames[kCodeSlots - 1];
}

}  // namespace sasmint::bench
