// response_scan.h: counts the results of a serialized MintTokensResponse without parsing it.
//
// A batch of 1,000 answers carries 1,000 token strings the load client never looks at;
// materializing them would cost the client more than the server spends signing. ScanBatch walks
// the wire format instead: it counts MintResult entries that hold a token, tallies the error
// codes of those that hold an error, and reads batch_id. Unknown fields are skipped, as a
// protobuf parser would. Thread-safe (no shared state).
#ifndef SASMINT_BENCH_LOAD_RESPONSE_SCAN_H_
#define SASMINT_BENCH_LOAD_RESPONSE_SCAN_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "bench/load/outcome.h"

namespace sasmint::bench {

struct BatchScan {
  int64_t results = 0;  // MintResult entries
  uint64_t batch_id = 0;
  Outcome outcome;  // tokens and per-item errors (rpc_ok left false)
};

// ScanBatch reads `response` (mutable only because gRPC's reader wants it so; its contents are
// left as they are). DATA_LOSS if it is not a well-formed MintTokensResponse encoding.
absl::StatusOr<BatchScan> ScanBatch(grpc::ByteBuffer* response);

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_RESPONSE_SCAN_H_
