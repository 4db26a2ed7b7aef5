#include "bench/load/identity_list.h"

#include <string.h>  // explicit_bzero

#include <cstring>
#include <fstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace sasmint::bench {
namespace {

// WipedPadded is simdjson's padded buffer, wiped on destruction: export files carry keys.
class WipedPadded {
 public:
  explicit WipedPadded(size_t size) : buffer_(size) {}
  ~WipedPadded() { explicit_bzero(buffer_.data(), buffer_.size()); }
  char* data() { return buffer_.data(); }
  size_t size() const { return buffer_.size(); }

 private:
  simdjson::padded_string buffer_;
};

// ReadLine extracts the three fields we need from one export line. Absent status means enabled
// (as in the server's loader); a null moduleId means a device identity.
absl::Status ReadLine(simdjson::dom::element doc, IdentityRef* out, bool* enabled) {
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("line is not a JSON object");
  }
  bool have_id = false;
  *enabled = true;
  for (auto field : obj) {
    std::string_view s;
    if (field.key == "id") {
      if (field.value.get_string().get(s) != simdjson::SUCCESS || s.empty()) {
        return absl::InvalidArgumentError("id must be a non-empty string");
      }
      out->device_id.assign(s.data(), s.size());
      have_id = true;
    } else if (field.key == "moduleId" && !field.value.is_null()) {
      if (field.value.get_string().get(s) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError("moduleId must be a string or null");
      }
      out->module_id.assign(s.data(), s.size());
    } else if (field.key == "status" && !field.value.is_null()) {
      if (field.value.get_string().get(s) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError("status must be a string or null");
      }
      *enabled = s != "disabled";
    }
  }
  if (!have_id) return absl::InvalidArgumentError("missing id");
  return absl::OkStatus();
}

// ParsePadded parses `total` bytes at `base`, followed by SIMDJSON_PADDING readable bytes, so
// every line is parsed in place.
absl::StatusOr<std::vector<IdentityRef>> ParsePadded(const char* base, size_t total,
                                                     absl::string_view source_name,
                                                     bool include_disabled) {
  simdjson::dom::parser parser;
  std::vector<IdentityRef> out;
  size_t skipped = 0;
  size_t pos = 0;
  if (total >= 3 && std::memcmp(base, "\xEF\xBB\xBF", 3) == 0) pos = 3;
  for (size_t line_no = 1; pos < total; ++line_no) {
    const char* nl = static_cast<const char*>(std::memchr(base + pos, '\n', total - pos));
    const size_t end = nl == nullptr ? total : static_cast<size_t>(nl - base);
    size_t len = end - pos;
    if (len > 0 && base[pos + len - 1] == '\r') --len;
    const size_t start = pos;
    pos = end + 1;
    if (std::string_view(base + start, len).find_first_not_of(" \t") == std::string_view::npos) {
      continue;
    }
    simdjson::dom::element doc;
    if (auto err = parser.parse(base + start, len, false).get(doc); err != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(
          source_name, ":", line_no, ": malformed JSON: ", simdjson::error_message(err)));
    }
    IdentityRef identity;
    bool enabled = true;
    if (absl::Status s = ReadLine(doc, &identity, &enabled); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ":", line_no, ": ", s.message()));
    }
    if (!enabled && !include_disabled) {
      ++skipped;
      continue;
    }
    out.push_back(std::move(identity));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": no identities to use",
                     skipped > 0 ? absl::StrCat(" (", skipped,
                                                " disabled ones skipped; --include-disabled "
                                                "uses them)")
                                 : ""));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<IdentityRef>> ParseIdentityList(absl::string_view text,
                                                           absl::string_view source_name,
                                                           bool include_disabled) {
  WipedPadded buffer(text.size());
  if (!text.empty()) std::memcpy(buffer.data(), text.data(), text.size());
  return ParsePadded(buffer.data(), buffer.size(), source_name, include_disabled);
}

absl::StatusOr<std::vector<IdentityRef>> LoadIdentityList(const std::string& path,
                                                          bool include_disabled) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open device export file ", path));
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::DataLossError(absl::StrCat("cannot read device export file ", path));
  in.seekg(0);
  WipedPadded buffer(static_cast<size_t>(size));
  if (size > 0 && !in.read(buffer.data(), size)) {
    return absl::DataLossError(absl::StrCat("error reading device export file ", path));
  }
  return ParsePadded(buffer.data(), buffer.size(), path, include_disabled);
}

}  // namespace sasmint::bench
