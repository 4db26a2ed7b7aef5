// request_payloads.h: every request a load run sends, serialized once before the run.
//
// The load client must cost far less per token than the server, so it never builds or
// serializes a protobuf on the hot path. Build encodes one MintTokensRequest.requests entry per
// identity, back to back in one buffer, followed by the first batch_size - 1 entries again. A
// field repeated N times is just N entries concatenated, so the batch for the window starting
// at identity w is one contiguous slice of that buffer, and the unary request for identity w is
// the body of entry w. Payloads point into the buffer without copying (static slices): the
// RequestPayloads must outlive every RPC that carries one. A stream's batch_id is appended as a
// second slice (protobuf parsers take fields in any order). Thread-safe.
#ifndef SASMINT_BENCH_LOAD_REQUEST_PAYLOADS_H_
#define SASMINT_BENCH_LOAD_REQUEST_PAYLOADS_H_

#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "bench/load/identity_list.h"

namespace sasmint::bench {

class RequestPayloads {
 public:
  // Build encodes a device (or module) scope request of `hub` for each identity, with
  // ttl_seconds = `ttl_seconds`. INVALID_ARGUMENT if `identities` is empty or batch_size < 1.
  static absl::StatusOr<std::unique_ptr<RequestPayloads>> Build(
      absl::Span<const IdentityRef> identities, const std::string& hub, uint32_t ttl_seconds,
      int batch_size);

  size_t identity_count() const { return identity_count_; }
  int batch_size() const { return batch_size_; }

  // NextWindow returns the first identity of the next window, round robin over all identities
  // in steps of batch_size, so successive requests ask for different identities.
  size_t NextWindow() {
    return next_.fetch_add(static_cast<size_t>(batch_size_), std::memory_order_relaxed) %
           identity_count_;
  }

  // MintToken returns a serialized MintTokenRequest for identity `window`.
  grpc::ByteBuffer MintToken(size_t window) const;

  // MintTokens returns a serialized MintTokensRequest for batch_size identities starting at
  // `window` (wrapping around), with batch_id set unless it is 0.
  grpc::ByteBuffer MintTokens(size_t window, uint64_t batch_id) const;

 private:
  RequestPayloads() = default;

  std::string bytes_;
  // entry_start_[j]: offset of entry j (identity j mod count); one extra at the end.
  std::vector<size_t> entry_start_;
  // body_start_[j]: offset of entry j's MintTokenRequest body (after its tag and length).
  std::vector<size_t> body_start_;
  size_t identity_count_ = 0;
  int batch_size_ = 1;
  std::atomic<size_t> next_{0};
};

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_REQUEST_PAYLOADS_H_
