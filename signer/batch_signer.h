// batch_signer.h: BatchSigner, the fast path: many HMAC-SHA256 MACs (or whole SAS tokens) at
// once, across the SIMD lanes of the CPU, each with its own key.
//
// A batch may mix keys and message lengths freely. Messages of up to 1015 bytes (1-16 SHA-256
// blocks after the key's ipad block; strings to sign are 40-120 bytes, 1 or 2 blocks) are
// grouped by block count and signed 16 (AVX-512), 8 (AVX2) or 2 (SHA-NI) at a time from the
// keys' HmacKey midstates, leftovers by the cheapest smaller kernel; longer messages are
// correct but take a one-lane path. Results equal HmacKey::Sign and FormatToken byte for byte.
//
// The kernel family is fixed when the signer is created (Best(): from CPUID, or forced with
// SASMINT_ISA=portable|shani|avx2|avx512). Sign and MintBatch allocate nothing per token:
// scratch lives on the calling thread's stack (about 8 KiB) and what held key-derived state is
// wiped before they return. BatchSigner is immutable and thread-safe; jobs only borrow their
// keys and texts, which must outlive the call.
#ifndef SASMINT_SIGNER_BATCH_SIGNER_H_
#define SASMINT_SIGNER_BATCH_SIGNER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "signer/hmac_sha256.h"
#include "signer/internal/hmac_kernel_plan.h"
#include "signer/internal/isa.h"

namespace sasmint {

using Isa = internal::Isa;  // portable, shani, avx2, avx512 (see internal/cpu_features.h).

// SignJob: MAC `length` bytes at `message` with `*key`. `message` may be null if length is 0.
struct SignJob {
  const HmacKey* key = nullptr;
  const uint8_t* message = nullptr;
  size_t length = 0;
};

// TokenJob: one SAS token. `encoded_resource` is the token's sr exactly as it appears in the
// token: EncodedResource(scope) of a scope that passed ValidateScope (callers cache it per
// identity; MintBatch does not re-check it). `key_name` is the skn (KeyName(scope)), empty
// for none; it is percent-encoded as FormatToken does. `expiry` is Unix seconds.
struct TokenJob {
  const HmacKey* key = nullptr;
  absl::string_view encoded_resource;
  absl::string_view key_name;
  int64_t expiry = 0;
};

// MintedTokens holds the texts of one MintBatch call in one buffer. Reuse one across calls:
// once it has grown to the batch, minting allocates nothing. Thread-compatible.
class MintedTokens {
 public:
  MintedTokens() = default;
  MintedTokens(MintedTokens&&) noexcept = default;
  MintedTokens& operator=(MintedTokens&&) noexcept = default;

  size_t size() const { return spans_.size(); }
  // operator[] returns token i of the last batch, valid until the next MintBatch into *this.
  absl::string_view operator[](size_t i) const {
    return absl::string_view(text_.get() + spans_[i].first, spans_[i].second);
  }

 private:
  friend class BatchSigner;
  std::unique_ptr<char[]> text_;
  size_t capacity_ = 0;
  std::vector<std::pair<size_t, size_t>> spans_;  // offset and length of each token
};

class BatchSigner {
 public:
  // Create returns a signer that runs the kernels of `isa`; FAILED_PRECONDITION, naming the
  // missing CPU features, if this CPU cannot run them.
  static absl::StatusOr<BatchSigner> Create(Isa isa);
  // Best returns a signer for SASMINT_ISA if set, else for the fastest ISA of this CPU
  // (BestIsa). INVALID_ARGUMENT for an unknown SASMINT_ISA value, FAILED_PRECONDITION for an
  // ISA this CPU lacks.
  static absl::StatusOr<BatchSigner> Best();

  BatchSigner(const BatchSigner&) = default;
  BatchSigner& operator=(const BatchSigner&) = default;

  // Sign sets macs[i] = HMAC-SHA256(*jobs[i].key, jobs[i].message). Aborts (a caller bug, not
  // bad input) if macs.size() != jobs.size(), a key is null, or a non-empty message is null.
  void Sign(absl::Span<const SignJob> jobs, absl::Span<Mac> macs) const;

  // MintBatch sets (*tokens)[i] to the text FormatToken(jobs[i].encoded_resource,
  // HMAC(key, encoded_resource + "\n" + expiry), expiry, key_name) for every job, in order.
  // INVALID_ARGUMENT (naming the job, and leaving *tokens empty) if a job's expiry fails
  // ValidateExpiry or its encoded_resource is empty. Aborts if a key is null.
  absl::Status MintBatch(absl::Span<const TokenJob> jobs, MintedTokens* tokens) const;

  // PrepareKeys sets out[i] = HmacKey::FromBytes(keys[i]) for every key, computing the ipad and
  // opad midstates of many keys at once in the SIMD lanes (bulk loading of millions of keys).
  // Aborts if the spans differ in size.
  void PrepareKeys(absl::Span<const absl::Span<const uint8_t>> keys, absl::Span<HmacKey> out) const;

  // isa returns the kernel family; Describe the kernels in use, e.g. "avx512 (groups:
  // avx512_x16; leftovers: shani_x1 shani_x2 avx512_x16; long messages: shani_x1)", for logs.
  Isa isa() const { return plan_.isa; }
  std::string Describe() const;

 private:
  explicit BatchSigner(const internal::HmacKernelPlan& plan) : plan_(plan) {}

  internal::HmacKernelPlan plan_;
};

}  // namespace sasmint

#endif  // SASMINT_SIGNER_BATCH_SIGNER_H_
