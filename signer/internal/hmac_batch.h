// hmac_batch.h: the multi-buffer HMAC-SHA256 engine behind BatchSigner (internal).
//
// HmacBatchRunner streams a batch through an HmacKernelPlan (hmac_kernel_plan.h). Each message
// of at most kHmacFastMaxLength bytes joins the bucket of its inner block count (1 to 16
// blocks after the key's ipad block); a bucket that reaches the plan's full lane count is
// signed at once by the plan's group function (hmac_lanes.h), which reads the messages' whole
// blocks in place, pads their tails, runs the lane kernel from the keys' inner midstates and
// the outer block from the outer midstates. At the end of the batch the buckets' leftovers go
// to the plan's cheapest cover. Longer messages are hashed by the plan's one-lane kernel.
// Key state of the job kPrefetchAhead positions ahead is prefetched, so that fleets of
// millions of keys in random order do not stall on cache misses.
//
// The runner keeps its scratch in itself (about 3 KiB, meant to live on the caller's stack:
// no heap allocation) and wipes what held key-derived state when destroyed. Not thread-safe;
// use one per call. The kernels' own register and stack residue is not wiped (see
// sha256_kernel.h).
//
// Source must provide, for job index i (messages of at most kHmacFastMaxLength bytes, with
// `offset` = HmacTailOffset of their block count):
//   const HmacKey& Key(size_t i);  size_t Length(size_t i);
//   void Prepare(size_t i, size_t offset);  // called once, when job i joins its bucket
//   const uint8_t* Head(size_t i);          // the first `offset` bytes, in one piece
//   const uint8_t* Tail(size_t i, size_t offset);  // bytes offset..Length(i) in one piece,
//                                           // valid from Prepare until job i's MAC is emitted
//   void ForEachPiece(size_t i, F f);  // longer messages: f(const uint8_t*, size_t) in order
//   void Prefetch(size_t i);           // a hint; i < the batch size
// Sink must provide uint8_t* MacOut(size_t i, int lane): where job i's 32-byte MAC goes (lane
// is its lane in the group, 0..15); and Emit(size_t i, int lane), called once that MAC is
// written.
#ifndef SASMINT_SIGNER_INTERNAL_HMAC_BATCH_H_
#define SASMINT_SIGNER_INTERNAL_HMAC_BATCH_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "signer/crypto_backend.h"
#include "signer/hmac_sha256.h"
#include "signer/internal/hmac_kernel_plan.h"
#include "signer/internal/hmac_lanes.h"
#include "signer/internal/sha256_kernel.h"
#include "signer/secret_bytes.h"
#include "signer/sha256.h"

namespace sasmint::internal {

template <class Source, class Sink>
class HmacBatchRunner {
 public:
  HmacBatchRunner(const HmacKernelPlan& plan, Source& source, Sink& sink)
      : plan_(plan), source_(source), sink_(sink) {}
  HmacBatchRunner(const HmacBatchRunner&) = delete;
  HmacBatchRunner& operator=(const HmacBatchRunner&) = delete;
  ~HmacBatchRunner() {
    if (wipe_long_) {
      crypto::Cleanse(words_, sizeof(words_));
      crypto::Cleanse(outer_, sizeof(outer_));
    }
  }

  // Run signs jobs 0..n-1, emitting each MAC once, in an unspecified order.
  void Run(size_t n) {
    for (size_t i = 0; i < std::min(n, kPrefetchAhead); ++i) source_.Prefetch(i);
    const int full = plan_.full->lanes;
    for (size_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n) source_.Prefetch(i + kPrefetchAhead);
      const size_t len = source_.Length(i);
      if (len > kHmacFastMaxLength) {
        SignLong(i, len);
        continue;
      }
      // ceil((len + 9) / 64) blocks: 0..55 bytes -> 1, 56..119 -> 2, 120..183 -> 3, ...
      const size_t c = (len + 8) / kSha256BlockSize;
      Bucket& b = buckets_[c];
      const int l = b.count++;
      b.job[l] = i;
      b.length[l] = static_cast<uint32_t>(len);
      source_.Prepare(i, HmacTailOffset(c + 1));
      if (b.count == full) {
        RunGroup(*plan_.full, b, c + 1, 0, full);
        b.count = 0;
      }
    }
    for (size_t c = 0; c < kHmacFastMaxBlocks; ++c) {
      Bucket& b = buckets_[c];
      for (int first = 0; first < b.count;) {
        const HmacLaneKernel& k = *plan_.leftover[b.count - first];
        const int take = std::min(k.lanes, b.count - first);
        RunGroup(k, b, c + 1, first, take);
        first += take;
      }
      b.count = 0;
    }
  }

 private:
  struct Bucket {
    int count = 0;
    size_t job[kSha256MaxLanes];  // each entry is set before it is read
    uint32_t length[kSha256MaxLanes];
  };

  // RunGroup signs jobs first .. first + count - 1 of `b` (count <= k.lanes); spare lanes
  // repeat the first job and write their MACs to spare_.
  void RunGroup(const HmacLaneKernel& k, const Bucket& b, size_t num_blocks, int first, int count) {
    HmacLaneGroup group;
    const size_t offset = HmacTailOffset(num_blocks);
    for (int l = 0; l < k.lanes; ++l) {
      const int j = l < count ? first + l : first;
      const HmacKey& key = source_.Key(b.job[j]);
      group.inner[l] = key.inner_state(SecretKeyAccess::Get()).data();
      group.outer[l] = key.outer_state(SecretKeyAccess::Get()).data();
      group.head[l] = offset > 0 ? source_.Head(b.job[j]) : nullptr;
      group.tail[l] = source_.Tail(b.job[j], offset);
      group.length[l] = b.length[j];
      group.mac[l] = l < count ? sink_.MacOut(b.job[j], l) : spare_;
    }
    k.sign(group, num_blocks);
    for (int l = 0; l < count; ++l) sink_.Emit(b.job[first + l], l);
  }

  static void StoreBigEndian64(uint8_t* p, uint64_t v) {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, sizeof(v));
  }

  // SignLong hashes a message of more than kHmacFastMaxLength bytes with the one-lane
  // kernel: whole blocks in place, the rest through tail_.
  void SignLong(size_t i, size_t len) {
    const Sha256LaneKernel& k = *plan_.single;
    wipe_long_ = true;
    std::fill(words_ + 8, words_ + 16, 0u);
    words_[8] = kOuterPaddingWord8;
    words_[15] = kOuterBitLength;
    const HmacKey& key = source_.Key(i);
    const Sha256State& in = key.inner_state(SecretKeyAccess::Get());
    std::copy(in.begin(), in.end(), words_);
    size_t buffered = 0;
    source_.ForEachPiece(i, [&](const uint8_t* p, size_t n) {
      if (buffered > 0) {
        const size_t take = std::min(n, kSha256BlockSize - buffered);
        std::memcpy(tail_ + buffered, p, take);
        buffered += take;
        p += take;
        n -= take;
        if (buffered < kSha256BlockSize) return;
        const uint8_t* block = tail_;
        k.compress(words_, &block, 1);
        buffered = 0;
      }
      if (n >= kSha256BlockSize) {
        k.compress(words_, &p, n / kSha256BlockSize);
        p += n / kSha256BlockSize * kSha256BlockSize;
        n %= kSha256BlockSize;
      }
      if (n > 0) std::memcpy(tail_, p, n);
      buffered = n;
    });
    // FIPS 180-4 §5.1.1: 0x80, zeros, the bit length of ipad block + message, big-endian.
    const size_t tail_blocks = buffered + 9 <= kSha256BlockSize ? 1 : 2;
    std::memset(tail_ + buffered, 0, sizeof(tail_) - buffered);
    tail_[buffered] = 0x80;
    StoreBigEndian64(tail_ + tail_blocks * kSha256BlockSize - 8,
                     (kSha256BlockSize + uint64_t{len}) * 8);
    const uint8_t* block = tail_;
    k.compress(words_, &block, tail_blocks);
    const Sha256State& out = key.outer_state(SecretKeyAccess::Get());
    std::copy(out.begin(), out.end(), outer_);
    k.compress_words(outer_, words_);
    uint8_t* mac = sink_.MacOut(i, 0);
    for (int w = 0; w < 8; ++w) {
      const uint32_t v = __builtin_bswap32(outer_[w]);
      std::memcpy(mac + 4 * w, &v, 4);
    }
    sink_.Emit(i, 0);
  }

  const HmacKernelPlan& plan_;
  Source& source_;
  Sink& sink_;
  bool wipe_long_ = false;
  Bucket buckets_[kHmacFastMaxBlocks];
  uint8_t spare_[kMacSize];
  // The one-lane path's words (state, then the outer block) and outer state.
  alignas(64) uint32_t words_[16];
  alignas(64) uint32_t outer_[8];
  alignas(64) uint8_t tail_[2 * kSha256BlockSize];
};

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_HMAC_BATCH_H_
