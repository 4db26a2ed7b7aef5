#include "signer/sha256.h"

#include <algorithm>
#include <cstring>

#include "signer/crypto_backend.h"
#include "signer/internal/sha256_constants.h"

namespace sasmint {
namespace {

using internal::kSha256K;

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

inline void StoreBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

}  // namespace

void Sha256CompressBlocks(Sha256State& state, const uint8_t* blocks, size_t num_blocks) {
  uint32_t w[64];
  for (size_t b = 0; b < num_blocks; ++b, blocks += kSha256BlockSize) {
    for (int t = 0; t < 16; ++t) w[t] = LoadBe32(blocks + 4 * t);
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b_ = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; ++t) {
      const uint32_t s1 = Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25);
      const uint32_t ch = (e & f) ^ (~e & g);
      const uint32_t t1 = h + s1 + ch + kSha256K[t] + w[t];
      const uint32_t s0 = Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22);
      const uint32_t maj = (a & b_) ^ (a & c) ^ (b_ & c);
      const uint32_t t2 = s0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b_;
      b_ = a;
      a = t1 + t2;
    }
    state[0] += a;
    state[1] += b_;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
  }
  // The schedule holds message words, which for HMAC pad blocks are key-derived.
  crypto::Cleanse(w, sizeof(w));
}

Sha256Digest Sha256StateToDigest(const Sha256State& state) {
  Sha256Digest out;
  for (int i = 0; i < 8; ++i) StoreBe32(out.data() + 4 * i, state[i]);
  return out;
}

Sha256::Sha256(const Sha256State& midstate, uint64_t bytes_before)
    : state_(midstate), total_bytes_(bytes_before) {}

Sha256::~Sha256() {
  crypto::Cleanse(buffer_.data(), buffer_.size());
  crypto::Cleanse(state_.data(), sizeof(state_));
}

void Sha256::Update(absl::Span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t n = data.size();
  total_bytes_ += n;
  if (buffered_ > 0) {
    const size_t take = std::min(n, kSha256BlockSize - buffered_);
    std::memcpy(buffer_.data() + buffered_, p, take);
    buffered_ += take;
    p += take;
    n -= take;
    if (buffered_ < kSha256BlockSize) return;
    Sha256CompressBlocks(state_, buffer_.data(), 1);
    buffered_ = 0;
  }
  const size_t whole = n / kSha256BlockSize;
  if (whole > 0) {
    Sha256CompressBlocks(state_, p, whole);
    p += whole * kSha256BlockSize;
    n -= whole * kSha256BlockSize;
  }
  if (n > 0) {
    std::memcpy(buffer_.data(), p, n);
    buffered_ = n;
  }
}

Sha256Digest Sha256::Final() {
  // FIPS 180-4 §5.1.1: append 0x80, zeros, then the 64-bit big-endian bit length.
  const uint64_t bit_length = total_bytes_ * 8;
  buffer_[buffered_++] = 0x80;
  if (buffered_ > kSha256BlockSize - 8) {
    std::memset(buffer_.data() + buffered_, 0, kSha256BlockSize - buffered_);
    Sha256CompressBlocks(state_, buffer_.data(), 1);
    buffered_ = 0;
  }
  std::memset(buffer_.data() + buffered_, 0, kSha256BlockSize - 8 - buffered_);
  StoreBe32(buffer_.data() + 56, static_cast<uint32_t>(bit_length >> 32));
  StoreBe32(buffer_.data() + 60, static_cast<uint32_t>(bit_length));
  Sha256CompressBlocks(state_, buffer_.data(), 1);
  buffered_ = 0;
  return Sha256StateToDigest(state_);
}

Sha256Digest Sha256::Hash(absl::Span<const uint8_t> data) {
  Sha256 h;
  h.Update(data);
  return h.Final();
}

}  // namespace sasmint
