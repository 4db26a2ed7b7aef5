#include "common/json.h"

#include "absl/strings/str_format.h"

namespace sasmint {

void AppendJsonEscaped(absl::string_view text, std::string* out) {
  for (char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
}

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  AppendJsonEscaped(text, &out);
  return out;
}

std::string JsonString(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 10);
  out.push_back('"');
  AppendJsonEscaped(text, &out);
  out.push_back('"');
  return out;
}

}  // namespace sasmint
