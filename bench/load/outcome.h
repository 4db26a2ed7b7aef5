// outcome.h: what one load-client request produced: tokens minted and failures by gRPC code.
//
// Errors count failed tokens, not failed RPCs: a batch RPC that fails whole counts as many
// errors as it had items, a per-item error in a successful batch counts one. So tokens + errors
// is the number of tokens asked for. Codes are google.rpc.Code values (0 to 16); anything else
// a server sends is kept apart under "INVALID_CODE". Thread-compatible.
#ifndef SASMINT_BENCH_LOAD_OUTCOME_H_
#define SASMINT_BENCH_LOAD_OUTCOME_H_

#include <array>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace sasmint::bench {

// kCodeSlots: google.rpc.Code 0..16, then one slot for codes outside that range.
inline constexpr int kCodeSlots = 18;

struct Outcome {
  bool rpc_ok = false;  // the RPC itself returned OK (per-item errors may still be present)
  int64_t tokens = 0;
  int64_t errors = 0;
  std::array<int64_t, kCodeSlots> errors_by_code{};

  // AddErrors counts `n` failed tokens under `code`.
  void AddErrors(int code, int64_t n) {
    errors += n;
    errors_by_code[code >= 0 && code < kCodeSlots - 1 ? code : kCodeSlots - 1] += n;
  }
};

// ErrorCodeName returns the canonical name of a code slot ("NOT_FOUND"), or "INVALID_CODE".
absl::string_view ErrorCodeName(int slot);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_OUTCOME_H_
