#include "bench/load/internal/run_state.h"

#include <iostream>

#include "absl/strings/str_cat.h"

namespace sasmint::bench::internal {

void RunState::Warn(absl::string_view message) {
  {
    absl::MutexLock lock(&mu_);
    if (warnings_ >= kMaxWarnings) return;
    ++warnings_;
  }
  std::cerr << "sasmint-bench: warning: " << message << std::endl;
}

void RunState::NoteFailure(absl::string_view rpc, int code, absl::string_view message) {
  const int slot = code >= 0 && code < kCodeSlots - 1 ? code : kCodeSlots - 1;
  {
    absl::MutexLock lock(&mu_);
    if (codes_noted_.test(slot)) return;
    codes_noted_.set(slot);
  }
  Warn(absl::StrCat(rpc, " failed: ", ErrorCodeName(slot), ": ", message, " (further ",
                    ErrorCodeName(slot), " failures are counted, not shown)"));
}

}  // namespace sasmint::bench::internal
