#include "signer/encoding.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"
#include "signer/internal/text_tables.h"

namespace sasmint {
namespace {

constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<uint8_t>(internal::kBase64Alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kDecode = MakeDecodeTable();

// DecodeInto decodes canonical base64 into `out` (sized by the caller to the decoded length).
absl::Status DecodeInto(absl::string_view text, absl::string_view what, uint8_t* out,
                        size_t* out_len) {
  if (text.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not valid base64: length ",
                                                   text.size(), " is not a multiple of 4"));
  }
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  const size_t body = text.size() - pad;
  // An error names the first bad character; found by a second pass, off the fast path.
  const auto invalid = [&]() {
    size_t i = 0;
    while (i < body && kDecode[static_cast<uint8_t>(text[i])] >= 0) ++i;
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not valid base64: ",
        text[i] == '=' ? "padding '=' before the end" : "invalid character", " at offset ", i));
  };
  // Whole quads (four characters, three bytes) at a time: invalid characters decode to -1, so
  // OR-ing the four values shows any of them at once, with one branch per quad (loading a fleet
  // decodes two keys per identity).
  const auto at = [&text](size_t i) { return kDecode[static_cast<uint8_t>(text[i])]; };
  const size_t whole = pad == 0 ? body : body - (4 - pad);
  size_t n = 0;
  for (size_t i = 0; i < whole; i += 4) {
    const int8_t a = at(i), b = at(i + 1), c = at(i + 2), d = at(i + 3);
    if ((a | b | c | d) < 0) return invalid();
    const uint32_t v = static_cast<uint32_t>(a) << 18 | static_cast<uint32_t>(b) << 12 |
                       static_cast<uint32_t>(c) << 6 | static_cast<uint32_t>(d);
    out[n] = static_cast<uint8_t>(v >> 16);
    out[n + 1] = static_cast<uint8_t>(v >> 8);
    out[n + 2] = static_cast<uint8_t>(v);
    n += 3;
  }
  if (pad != 0) {
    // The last quad: two characters (one byte, four spare bits) or three (two bytes, two).
    const int8_t a = at(whole), b = at(whole + 1), c = pad == 1 ? at(whole + 2) : 0;
    if ((a | b | c) < 0) return invalid();
    const uint32_t v = static_cast<uint32_t>(a) << 18 | static_cast<uint32_t>(b) << 12 |
                       static_cast<uint32_t>(c) << 6;
    // Canonical form: the bits left over after the last whole byte must be zero (RFC 4648
    // §3.5), so each key has exactly one accepted spelling.
    if ((pad == 2 ? (v & 0xffff) : (v & 0xff)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not canonical base64: non-zero bits before the padding"));
    }
    out[n++] = static_cast<uint8_t>(v >> 16);
    if (pad == 1) out[n++] = static_cast<uint8_t>(v >> 8);
  }
  *out_len = n;
  return absl::OkStatus();
}

size_t MaxDecodedSize(absl::string_view text) { return text.size() / 4 * 3; }

}  // namespace

void Base64EncodeTo(absl::Span<const uint8_t> data, char* out) {
  size_t i = 0;
  const size_t n = data.size();
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    *out++ = internal::kBase64Alphabet[v >> 18];
    *out++ = internal::kBase64Alphabet[(v >> 12) & 63];
    *out++ = internal::kBase64Alphabet[(v >> 6) & 63];
    *out++ = internal::kBase64Alphabet[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    *out++ = internal::kBase64Alphabet[v >> 18];
    *out++ = internal::kBase64Alphabet[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    *out++ = internal::kBase64Alphabet[v >> 18];
    *out++ = internal::kBase64Alphabet[(v >> 12) & 63];
    *out++ = internal::kBase64Alphabet[(v >> 6) & 63];
    *out++ = '=';
  }
}

std::string Base64Encode(absl::Span<const uint8_t> data) {
  std::string out(Base64EncodedSize(data.size()), '\0');
  Base64EncodeTo(data, out.data());
  return out;
}

absl::StatusOr<std::string> Base64Decode(absl::string_view text, absl::string_view what) {
  std::string out(MaxDecodedSize(text), '\0');
  size_t n = 0;
  absl::Status s = DecodeInto(text, what, reinterpret_cast<uint8_t*>(out.data()), &n);
  if (!s.ok()) return s;
  out.resize(n);
  return out;
}

absl::StatusOr<size_t> Base64DecodeTo(absl::string_view text, absl::string_view what,
                                      absl::Span<uint8_t> out) {
  if (out.size() < MaxDecodedSize(text)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is too long"));
  }
  size_t n = 0;
  absl::Status s = DecodeInto(text, what, out.data(), &n);
  if (!s.ok()) return s;
  return n;
}

absl::StatusOr<SecretBytes> DecodeBase64Key(absl::string_view text, absl::string_view what) {
  SecretBytes scratch(MaxDecodedSize(text));
  size_t n = 0;
  absl::Status s = DecodeInto(text, what, scratch.MutableReveal(SecretKeyAccess::Get()).data(), &n);
  if (!s.ok()) return s;
  if (n == scratch.size()) return scratch;
  return SecretBytes::CopyFrom(scratch.Reveal(SecretKeyAccess::Get()).first(n));
}

absl::Status ValidateKeyLength(const SecretBytes& key, absl::string_view what) {
  if (key.size() < kMinKeyBytes || key.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " decodes to ", key.size(),
                                                   " bytes; IoT Hub keys are ", kMinKeyBytes,
                                                   " to ", kMaxKeyBytes, " bytes"));
  }
  return absl::OkStatus();
}

void PercentEncodeTo(absl::string_view text, std::string* out) {
  for (const char ch : text) {
    const auto c = static_cast<uint8_t>(ch);
    if (internal::kUnreserved[c]) {
      out->push_back(ch);
    } else {
      const char esc[3] = {'%', internal::kHexUpper[c >> 4], internal::kHexUpper[c & 15]};
      out->append(esc, 3);
    }
  }
}

std::string PercentEncode(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  PercentEncodeTo(text, &out);
  return out;
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view text, absl::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": truncated %-escape at offset ", i));
    }
    const int hi = HexDigitValue(text[i + 1]);
    const int lo = HexDigitValue(text[i + 2]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": invalid %-escape at offset ", i));
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

}  // namespace sasmint
