#include "service/keystore/export_loader.h"

#include <cstring>
#include <fstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "simdjson.h"

namespace sasmint {
namespace {

absl::string_view View(std::string_view v) { return absl::string_view(v.data(), v.size()); }

// ParsedLine holds the fields of one export line; string views point into the parser's buffer.
struct ParsedLine {
  std::string_view id;
  std::string_view module_id;
  std::string_view status = "enabled";
  std::string_view auth_type;
  std::string_view primary_key;
  std::string_view secondary_key;
  std::string_view primary_thumbprint;
  std::string_view secondary_thumbprint;
};

// OptionalString reads a string or null; anything else is an error naming `field`.
absl::Status OptionalString(simdjson::dom::element value, absl::string_view field,
                            std::string_view* out) {
  if (value.is_null()) return absl::OkStatus();
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a string or null"));
  }
  *out = s;
  return absl::OkStatus();
}

absl::Status ParseAuthentication(simdjson::dom::element auth, ParsedLine* line) {
  if (auth.is_null()) return absl::OkStatus();
  simdjson::dom::object obj;
  if (auth.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("authentication must be an object");
  }
  for (auto field : obj) {
    if (field.key == "type") {
      if (auto s = OptionalString(field.value, "authentication.type", &line->auth_type); !s.ok()) {
        return s;
      }
    } else if (field.key == "symmetricKey" || field.key == "x509Thumbprint") {
      const bool keys = field.key == "symmetricKey";
      if (field.value.is_null()) continue;
      simdjson::dom::object inner;
      if (field.value.get_object().get(inner) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(
            absl::StrCat("authentication.", View(field.key), " must be an object"));
      }
      for (auto f : inner) {
        std::string_view* out = nullptr;
        if (keys && f.key == "primaryKey") out = &line->primary_key;
        if (keys && f.key == "secondaryKey") out = &line->secondary_key;
        if (!keys && f.key == "primaryThumbprint") out = &line->primary_thumbprint;
        if (!keys && f.key == "secondaryThumbprint") out = &line->secondary_thumbprint;
        if (out == nullptr) continue;
        if (auto s = OptionalString(
                f.value, absl::StrCat("authentication.", View(field.key), ".", View(f.key)), out);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseLine(simdjson::dom::element doc, ParsedLine* line) {
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("line is not a JSON object");
  }
  bool have_id = false;
  for (auto field : obj) {
    if (field.key == "id") {
      if (field.value.get_string().get(line->id) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError("id must be a string");
      }
      have_id = true;
    } else if (field.key == "moduleId") {
      if (auto s = OptionalString(field.value, "moduleId", &line->module_id); !s.ok()) return s;
    } else if (field.key == "status") {
      if (auto s = OptionalString(field.value, "status", &line->status); !s.ok()) return s;
    } else if (field.key == "authentication") {
      if (auto s = ParseAuthentication(field.value, line); !s.ok()) return s;
    }
  }
  if (!have_id) return absl::InvalidArgumentError("missing id");
  return absl::OkStatus();
}

absl::Status PrepareKey(std::string_view b64, absl::string_view what,
                        std::optional<HmacKey>* out) {
  if (b64.empty()) return absl::OkStatus();
  auto key = DecodeBase64Key(View(b64), what);
  if (!key.ok()) return key.status();
  if (auto s = ValidateKeyLength(*key, what); !s.ok()) return s;
  out->emplace(HmacKey::FromSecret(*key));
  return absl::OkStatus();
}

absl::Status AddLine(const ParsedLine& line, absl::string_view hub, uint16_t source_file,
                     uint32_t line_no, IdentityTable* table) {
  if (auto s = ValidateIdentityId(View(line.id), "device ID (id)"); !s.ok()) return s;
  if (!line.module_id.empty()) {
    if (auto s = ValidateIdentityId(View(line.module_id), "module ID (moduleId)"); !s.ok()) {
      return s;
    }
  }
  IdentityKeys keys;
  if (line.status == "enabled") {
    keys.status = IdentityStatus::kEnabled;
  } else if (line.status == "disabled") {
    keys.status = IdentityStatus::kDisabled;
  } else {
    return absl::InvalidArgumentError("status must be \"enabled\" or \"disabled\"");
  }
  if (!line.auth_type.empty()) keys.auth_type = std::string(line.auth_type);
  if (auto s = PrepareKey(line.primary_key, "primary key", &keys.primary); !s.ok()) return s;
  if (auto s = PrepareKey(line.secondary_key, "secondary key", &keys.secondary); !s.ok()) {
    return s;
  }
  if (keys.auth_type == "sas" && !keys.primary && !keys.secondary) {
    return absl::InvalidArgumentError(
        "authentication type is sas but symmetricKey has neither primaryKey nor secondaryKey");
  }
  keys.primary_thumbprint = std::string(line.primary_thumbprint);
  keys.secondary_thumbprint = std::string(line.secondary_thumbprint);
  keys.source_file = source_file;
  keys.source_line = line_no;
  return table->Add(hub, View(line.id), View(line.module_id), keys);
}

// LoadPadded parses `total` bytes at `base`, which must be followed by SIMDJSON_PADDING readable
// bytes: simdjson reads past the end of what it parses, so one padded copy of the whole file
// lets every line be parsed in place.
absl::Status LoadPadded(const char* base, size_t total, absl::string_view source_name,
                        absl::string_view hub, IdentityTable* table) {
  if (auto s = ValidateHubHost(hub); !s.ok()) return s;
  const uint16_t source_file = table->AddSourceFile(source_name);
  simdjson::dom::parser parser;
  size_t pos = 0;
  size_t line_no = 0;
  if (total >= 3 && static_cast<uint8_t>(base[0]) == 0xEF &&
      static_cast<uint8_t>(base[1]) == 0xBB && static_cast<uint8_t>(base[2]) == 0xBF) {
    pos = 3;  // UTF-8 byte order mark, as written by some Windows tools.
  }
  while (pos < total) {
    ++line_no;
    size_t end = pos;
    while (end < total && base[end] != '\n') ++end;
    size_t len = end - pos;
    if (len > 0 && base[pos + len - 1] == '\r') --len;
    const size_t line_start = pos;
    pos = end + 1;
    bool blank = true;
    for (size_t i = 0; i < len; ++i) {
      const char c = base[line_start + i];
      if (c != ' ' && c != '\t') {
        blank = false;
        break;
      }
    }
    if (blank) continue;
    const auto where = [&] { return absl::StrCat(source_name, ":", line_no); };
    simdjson::dom::element doc;
    if (auto err = parser.parse(base + line_start, len, false).get(doc); err != simdjson::SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": malformed JSON: ", simdjson::error_message(err)));
    }
    ParsedLine line;
    if (auto s = ParseLine(doc, &line); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), ": ", s.message()));
    }
    if (auto s = AddLine(line, hub, source_file, static_cast<uint32_t>(line_no), table);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(where(), ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

// WipedPadded is a padded copy of key-bearing text that is wiped when it goes out of scope.
class WipedPadded {
 public:
  explicit WipedPadded(size_t size) : buffer_(size) {}
  ~WipedPadded() { crypto::Cleanse(buffer_.data(), buffer_.size()); }
  char* data() { return buffer_.data(); }
  size_t size() const { return buffer_.size(); }

 private:
  simdjson::padded_string buffer_;
};

}  // namespace

absl::Status LoadExportText(absl::string_view text, absl::string_view source_name,
                            absl::string_view hub, IdentityTable* table) {
  WipedPadded buffer(text.size());
  if (!text.empty()) std::memcpy(buffer.data(), text.data(), text.size());
  return LoadPadded(buffer.data(), buffer.size(), source_name, hub, table);
}

absl::Status LoadExportFile(const std::string& path, absl::string_view hub, IdentityTable* table) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open device export file ", path));
  const std::streamoff size = in.tellg();
  if (size < 0) return absl::DataLossError(absl::StrCat("cannot read device export file ", path));
  in.seekg(0);
  WipedPadded buffer(static_cast<size_t>(size));
  if (size > 0 && !in.read(buffer.data(), size)) {
    return absl::DataLossError(absl::StrCat("error reading device export file ", path));
  }
  return LoadPadded(buffer.data(), buffer.size(), path, hub, table);
}

}  // namespace sasmint
