#include "signer/internal/token_text.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "signer/internal/text_tables.h"

namespace sasmint::internal {
namespace {

// kEscapedDigit packs the escaped spelling of each base64 digit (bytes 0..2 in memory order)
// and its length (byte 3): '+' and '/' become %2B and %2F (a raw '+' reads as a space in .NET).
constexpr std::array<uint32_t, 64> MakeEscapedDigits() {
  std::array<uint32_t, 64> t{};
  for (int i = 0; i < 64; ++i) {
    const char c = kBase64Alphabet[i];
    uint32_t b0 = static_cast<uint8_t>(c), b1 = 0, b2 = 0, len = 1;
    if (c == '+' || c == '/') {
      b0 = '%';
      b1 = '2';
      b2 = c == '+' ? 'B' : 'F';
      len = 3;
    }
    t[i] = b0 | (b1 << 8) | (b2 << 16) | (len << 24);
  }
  return t;
}
constexpr std::array<uint32_t, 64> kEscapedDigit = MakeEscapedDigits();

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "PutDigit stores little-endian");

// PutDigit stores 4 bytes (the digit's spelling and a byte the next write covers) and
// advances by the spelling's length.
inline char* PutDigit(uint32_t digit, char* out) {
  const uint32_t e = kEscapedDigit[digit & 63];
  std::memcpy(out, &e, 4);
  return out + (e >> 24);
}

}  // namespace

char* WriteEscapedSignature(const uint8_t* mac, char* out) {
  // RFC 4648 §4: every 3 bytes give 4 digits; 32 = 5 x 6 + 2 bytes give 5 x 8 + 3 digits and one
  // '=' pad. No branches: which digits need escapes is random.
  for (int k = 0; k < 5; ++k) {
    uint64_t x;
    std::memcpy(&x, mac + 6 * k, 8);  // bytes 6k..6k+7 (the last two are not used)
    x = __builtin_bswap64(x);
    for (int shift = 58; shift >= 16; shift -= 6) {
      out = PutDigit(static_cast<uint32_t>(x >> shift), out);
    }
  }
  const uint32_t v = (uint32_t{mac[30]} << 16) | (uint32_t{mac[31]} << 8);
  out = PutDigit(v >> 18, out);
  out = PutDigit(v >> 12, out);
  out = PutDigit(v >> 6, out);
  std::memcpy(out, "%3D", 3);  // also covers the last PutDigit's spare byte
  return out + 3;
}

char* WriteDecimal(int64_t value, char* out) {
  uint64_t magnitude = static_cast<uint64_t>(value);
  if (value < 0) {
    *out++ = '-';
    magnitude = 0 - magnitude;
  }
  char digits[kDecimalMax];
  char* p = digits + sizeof(digits);
  do {
    *--p = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  const size_t n = static_cast<size_t>(digits + sizeof(digits) - p);
  std::memcpy(out, p, n);
  return out + n;
}

char* WritePercentEncoded(absl::string_view text, char* out) {
  for (const char ch : text) {
    const auto c = static_cast<uint8_t>(ch);
    if (kUnreserved[c]) {
      *out++ = ch;
    } else {
      out[0] = '%';
      out[1] = kHexUpper[c >> 4];
      out[2] = kHexUpper[c & 15];
      out += 3;
    }
  }
  return out;
}

}  // namespace sasmint::internal
