#include "signer/batch_signer.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"
#include "signer/internal/cpu_features.h"
#include "signer/internal/hmac_batch.h"
#include "signer/internal/hmac_kernel_plan.h"
#include "signer/internal/sha256_kernel.h"
#include "signer/internal/token_text.h"
#include "signer/sas_token.h"

namespace sasmint {
namespace {

using internal::HmacBatchRunner;

[[noreturn]] void Misuse(const char* what) {
  std::fprintf(stderr, "BatchSigner misuse: %s\n", what);
  std::abort();
}

inline void Prefetch(const void* p) {
  // Key state is 64 bytes (inner and outer midstates) that may straddle two cache lines.
  __builtin_prefetch(p);
  __builtin_prefetch(static_cast<const char*>(p) + 63);
}

// --- Sign -----------------------------------------------------------------------------------

class MessageSource {
 public:
  explicit MessageSource(absl::Span<const SignJob> jobs) : jobs_(jobs) {}
  const HmacKey& Key(size_t i) const { return *jobs_[i].key; }
  // Length is asked first, once per job: it checks the job (in the pass that signs, not a
  // pass of its own).
  size_t Length(size_t i) const {
    const SignJob& job = jobs_[i];
    if (job.key == nullptr) Misuse("Sign: a job has no key");
    if (job.message == nullptr && job.length != 0) Misuse("Sign: a job has a null message");
    return job.length;
  }
  void Prepare(size_t, size_t) const {}
  const uint8_t* Head(size_t i) const { return jobs_[i].message; }
  const uint8_t* Tail(size_t i, size_t offset) const { return jobs_[i].message + offset; }
  template <class F>
  void ForEachPiece(size_t i, F&& f) const {
    f(jobs_[i].message, jobs_[i].length);
  }
  void Prefetch(size_t i) const { sasmint::Prefetch(jobs_[i].key); }

 private:
  absl::Span<const SignJob> jobs_;
};

class MacSink {
 public:
  explicit MacSink(absl::Span<Mac> macs) : macs_(macs) {}
  uint8_t* MacOut(size_t i, int) { return macs_[i].data(); }
  void Emit(size_t, int) {}

 private:
  absl::Span<Mac> macs_;
};

// --- MintBatch ------------------------------------------------------------------------------

// ExpiryText caches the decimal digits of the last expiry asked for: a batch usually shares
// one expiry, so each token copies its digits instead of formatting them.
class ExpiryText {
 public:
  absl::string_view Get(int64_t expiry) {
    if (expiry != value_ || size_ == 0) {
      value_ = expiry;
      size_ = static_cast<size_t>(internal::WriteDecimal(expiry, digits_) - digits_);
    }
    return absl::string_view(digits_, size_);
  }

 private:
  int64_t value_ = 0;
  size_t size_ = 0;
  char digits_[internal::kDecimalMax];
};

// StringToSignSource yields encoded_resource + "\n" + expiry for each job (StringToSign). The
// whole blocks of a long one lie inside encoded_resource (a tail holds at least 56 bytes, the
// newline and the digits at most 21) and are read in place; the tail is assembled in the
// job's own token slot, which its text overwrites only after the MAC is known.
class StringToSignSource {
 public:
  StringToSignSource(absl::Span<const TokenJob> jobs, char* text,
                     const std::pair<size_t, size_t>* spans)
      : jobs_(jobs), text_(text), spans_(spans) {}
  const HmacKey& Key(size_t i) const { return *jobs_[i].key; }
  size_t Length(size_t i) { return jobs_[i].encoded_resource.size() + 1 + Digits(i).size(); }
  void Prepare(size_t i, size_t offset) {
    const absl::string_view sr = jobs_[i].encoded_resource;
    char* p = internal::PutBytes(sr.substr(offset), text_ + spans_[i].first);
    *p++ = '\n';
    internal::PutBytes(Digits(i), p);
  }
  const uint8_t* Head(size_t i) const {
    return reinterpret_cast<const uint8_t*>(jobs_[i].encoded_resource.data());
  }
  const uint8_t* Tail(size_t i, size_t) const {
    return reinterpret_cast<const uint8_t*>(text_ + spans_[i].first);
  }
  template <class F>
  void ForEachPiece(size_t i, F&& f) {
    static constexpr uint8_t kNewline = '\n';
    const absl::string_view sr = jobs_[i].encoded_resource;
    const absl::string_view se = Digits(i);
    f(reinterpret_cast<const uint8_t*>(sr.data()), sr.size());
    f(&kNewline, 1);
    f(reinterpret_cast<const uint8_t*>(se.data()), se.size());
  }
  void Prefetch(size_t i) const {
    sasmint::Prefetch(jobs_[i].key);
    __builtin_prefetch(jobs_[i].encoded_resource.data());
  }

 private:
  absl::string_view Digits(size_t i) { return expiry_.Get(jobs_[i].expiry); }

  absl::Span<const TokenJob> jobs_;
  char* text_;
  const std::pair<size_t, size_t>* spans_;
  ExpiryText expiry_;
};

// MaxTokenSize bounds the text FormatToken produces for `job`.
size_t MaxTokenSize(const TokenJob& job) {
  size_t n = internal::kTokenPrefix.size() + job.encoded_resource.size() +
             internal::kTokenSig.size() + internal::kEscapedSignatureMax +
             internal::kEscapedSignatureSlack + internal::kTokenSe.size() + internal::kDecimalMax;
  if (!job.key_name.empty()) {
    n += internal::kTokenSkn.size() + internal::PercentEncodedMax(job.key_name.size());
  }
  return n;
}

// TokenSink writes each token at its slot (offset spans[i].first, sized by MaxTokenSize)
// once its MAC is known, in the order of FormatToken.
class TokenSink {
 public:
  TokenSink(absl::Span<const TokenJob> jobs, internal::EscapedSignatureFn write_signature,
            char* text, std::pair<size_t, size_t>* spans)
      : jobs_(jobs), write_signature_(write_signature), text_(text), spans_(spans) {}
  uint8_t* MacOut(size_t, int lane) { return macs_[lane].data(); }
  void Emit(size_t i, int lane) {
    const Mac& mac = macs_[lane];
    const TokenJob& job = jobs_[i];
    char* const start = text_ + spans_[i].first;
    char* p = internal::PutBytes(internal::kTokenPrefix, start);
    p = internal::PutBytes(job.encoded_resource, p);
    p = internal::PutBytes(internal::kTokenSig, p);
    p = write_signature_(mac.data(), p);
    p = internal::PutBytes(internal::kTokenSe, p);
    p = internal::PutBytes(expiry_.Get(job.expiry), p);
    if (!job.key_name.empty()) {
      p = internal::PutBytes(internal::kTokenSkn, p);
      p = internal::WritePercentEncoded(job.key_name, p);
    }
    spans_[i].second = static_cast<size_t>(p - start);
  }

 private:
  absl::Span<const TokenJob> jobs_;
  internal::EscapedSignatureFn write_signature_;
  char* text_;
  std::pair<size_t, size_t>* spans_;
  ExpiryText expiry_;
  Mac macs_[internal::kSha256MaxLanes];  // one group's MACs until their tokens are written
};

}  // namespace

absl::StatusOr<BatchSigner> BatchSigner::Create(Isa isa) {
  absl::StatusOr<internal::HmacKernelPlan> plan =
      internal::MakeHmacKernelPlan(isa, internal::DetectCpuFeatures());
  if (!plan.ok()) return plan.status();
  return BatchSigner(*plan);
}

absl::StatusOr<BatchSigner> BatchSigner::Best() {
  absl::StatusOr<Isa> isa = internal::SelectIsa(std::getenv("SASMINT_ISA"));
  if (!isa.ok()) return isa.status();
  return Create(*isa);
}

void BatchSigner::PrepareKeys(absl::Span<const absl::Span<const uint8_t>> keys,
                              absl::Span<HmacKey> out) const {
  if (keys.size() != out.size()) abort();
  if (keys.empty()) return;
  // The widest lane kernel of the plan's family: one compression per pad per key.
  const internal::Sha256LaneKernel* kernel = nullptr;
  for (const int lanes : {16, 8, 2, 1}) {
    kernel = internal::FindSha256LaneKernel(plan_.isa, lanes);
    if (kernel != nullptr) break;
  }
  if (kernel == nullptr) kernel = internal::FindSha256LaneKernel(Isa::kPortable, 1);
  const int lanes = kernel->lanes;
  alignas(64) uint8_t key0[internal::kSha256MaxLanes][kSha256BlockSize];
  alignas(64) uint8_t blocks[internal::kSha256MaxLanes][kSha256BlockSize];
  alignas(64) uint32_t state[2][8 * internal::kSha256MaxLanes];
  const uint8_t* pointers[internal::kSha256MaxLanes];
  for (size_t base = 0; base < keys.size(); base += lanes) {
    const size_t n = std::min<size_t>(lanes, keys.size() - base);
    // RFC 2104 §2: K0 is the key zero-padded to 64 bytes, or its hash if it is longer. Lanes past
    // the end repeat the last key (every lane of a kernel always runs).
    for (int lane = 0; lane < lanes; ++lane) {
      const absl::Span<const uint8_t> key = keys[base + std::min<size_t>(lane, n - 1)];
      std::memset(key0[lane], 0, kSha256BlockSize);
      if (key.size() > kSha256BlockSize) {
        Sha256Digest hashed = Sha256::Hash(key);
        std::memcpy(key0[lane], hashed.data(), hashed.size());
        crypto::Cleanse(hashed.data(), hashed.size());
      } else if (!key.empty()) {
        std::memcpy(key0[lane], key.data(), key.size());
      }
    }
    for (int pad = 0; pad < 2; ++pad) {
      const uint8_t value = pad == 0 ? 0x36 : 0x5c;
      for (int lane = 0; lane < lanes; ++lane) {
        for (size_t i = 0; i < kSha256BlockSize; ++i) blocks[lane][i] = key0[lane][i] ^ value;
        pointers[lane] = blocks[lane];
        for (int w = 0; w < 8; ++w) state[pad][w * lanes + lane] = kSha256InitialState[w];
      }
      kernel->compress(state[pad], pointers, 1);
    }
    for (size_t lane = 0; lane < n; ++lane) {
      Sha256State inner, outer;
      for (int w = 0; w < 8; ++w) {
        inner[w] = state[0][w * lanes + lane];
        outer[w] = state[1][w * lanes + lane];
      }
      out[base + lane] = HmacKey::FromMidstates(inner, outer);
      crypto::Cleanse(inner.data(), sizeof(inner));
      crypto::Cleanse(outer.data(), sizeof(outer));
    }
  }
  crypto::Cleanse(key0, sizeof(key0));
  crypto::Cleanse(blocks, sizeof(blocks));
  crypto::Cleanse(state, sizeof(state));
}

std::string BatchSigner::Describe() const { return internal::DescribeHmacKernelPlan(plan_); }

void BatchSigner::Sign(absl::Span<const SignJob> jobs, absl::Span<Mac> macs) const {
  if (macs.size() != jobs.size()) Misuse("Sign: macs.size() != jobs.size()");
  MessageSource source(jobs);
  MacSink sink(macs);
  HmacBatchRunner<MessageSource, MacSink> runner(plan_, source, sink);
  runner.Run(jobs.size());
}

absl::Status BatchSigner::MintBatch(absl::Span<const TokenJob> jobs, MintedTokens* tokens) const {
  // One pass: check every job, then lay out one slot per token, each sized for its longest
  // possible text (the signature's escapes vary), in a buffer reused across calls.
  tokens->spans_.resize(jobs.size());
  size_t total = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const TokenJob& job = jobs[i];
    if (job.key == nullptr) Misuse("MintBatch: a job has no key");
    if (job.expiry <= 0 || job.expiry > kMaxExpiry) {
      tokens->spans_.clear();
      return absl::InvalidArgumentError(
          absl::StrCat("token job ", i, ": ", ValidateExpiry(job.expiry).message()));
    }
    if (job.encoded_resource.empty()) {
      tokens->spans_.clear();
      return absl::InvalidArgumentError(absl::StrCat("token job ", i, ": empty resource"));
    }
    tokens->spans_[i] = {total, 0};
    total += MaxTokenSize(job);
  }
  if (total > tokens->capacity_) {
    const size_t capacity = std::max(total, tokens->capacity_ + tokens->capacity_ / 2);
    tokens->text_ = std::make_unique_for_overwrite<char[]>(capacity);
    tokens->capacity_ = capacity;
  }
  StringToSignSource source(jobs, tokens->text_.get(), tokens->spans_.data());
  TokenSink sink(jobs, plan_.write_signature, tokens->text_.get(), tokens->spans_.data());
  HmacBatchRunner<StringToSignSource, TokenSink> runner(plan_, source, sink);
  runner.Run(jobs.size());
  return absl::OkStatus();
}

}  // namespace sasmint
