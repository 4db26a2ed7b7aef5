// text_tables.h: the character tables of SAS token text, shared by encoding.cc (base64 and
// percent-encoding) and token_text.cc (the batch token writer). Data only.
#ifndef SASMINT_SIGNER_INTERNAL_TEXT_TABLES_H_
#define SASMINT_SIGNER_INTERNAL_TEXT_TABLES_H_

#include <array>

namespace sasmint::internal {

// RFC 4648 §4 (standard base64 alphabet).
inline constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
inline constexpr char kHexUpper[] = "0123456789ABCDEF";

// kUnreserved marks the RFC 3986 unreserved set A-Z a-z 0-9 - . _ ~, the only bytes left
// unescaped in sr and skn (docs/design.md §2).
inline constexpr std::array<bool, 256> kUnreserved = [] {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  t['-'] = t['.'] = t['_'] = t['~'] = true;
  return t;
}();

}  // namespace sasmint::internal

#endif  // SASMINT_SIGNER_INTERNAL_TEXT_TABLES_H_
