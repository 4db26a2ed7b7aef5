// mint_options.h: the token rules of a server: TTL defaults and caps, the renew window, the
// batch size limit and the DPS derived-key cache (config "limits"). Plain data.
#ifndef SASMINT_SERVICE_MINT_MINT_OPTIONS_H_
#define SASMINT_SERVICE_MINT_MINT_OPTIONS_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace sasmint {

struct MintOptions {
  uint32_t default_ttl_seconds = 3600;  // used when a request asks for 0
  uint32_t min_ttl_seconds = 60;        // shorter requests are refused
  uint32_t max_ttl_seconds = 86400;     // longer requests are capped
  // renew_after falls in [renew_window_start, renew_window_end] of the lifetime.
  double renew_window_start = 0.70;
  double renew_window_end = 0.85;
  uint32_t max_batch_size = 10000;
  size_t dps_key_cache_size = 100000;  // derived DPS device keys kept (0: derive every time)
};

// ValidateMintOptions returns INVALID_ARGUMENT naming the inconsistent option.
absl::Status ValidateMintOptions(const MintOptions& options);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_MINT_MINT_OPTIONS_H_
