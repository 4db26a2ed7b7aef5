#include "service/mint/mint_options.h"

namespace sasmint {

absl::Status ValidateMintOptions(const MintOptions& o) {
  if (o.default_ttl_seconds == 0) return absl::InvalidArgumentError("default TTL must be > 0");
  if (o.min_ttl_seconds > o.default_ttl_seconds || o.default_ttl_seconds > o.max_ttl_seconds) {
    return absl::InvalidArgumentError("TTLs must satisfy min <= default <= max");
  }
  if (!(o.renew_window_start > 0 && o.renew_window_start <= o.renew_window_end &&
        o.renew_window_end < 1)) {
    return absl::InvalidArgumentError("renew window must satisfy 0 < start <= end < 1");
  }
  if (o.max_batch_size == 0) return absl::InvalidArgumentError("max batch size must be > 0");
  return absl::OkStatus();
}

}  // namespace sasmint
