#include "common/json_reader.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace sasmint {
namespace {

absl::string_view View(std::string_view v) { return absl::string_view(v.data(), v.size()); }

}  // namespace

absl::Status JsonReader::Error(absl::string_view path, absl::string_view reason) const {
  return absl::InvalidArgumentError(absl::StrCat(source_, ": ", path, ": ", reason));
}

std::string JsonReader::ResolvePath(absl::string_view path) const {
  if (path.empty() || path[0] == '/' || base_dir_.empty()) return std::string(path);
  return absl::StrCat(base_dir_, "/", path);
}

bool JsonReader::Find(JsonObject object, absl::string_view name, JsonElement* value) {
  return object[std::string_view(name.data(), name.size())].get(*value) == simdjson::SUCCESS;
}

absl::Status JsonReader::CheckNames(absl::string_view path, JsonObject object,
                                    const absl::flat_hash_set<absl::string_view>& allowed) const {
  for (auto field : object) {
    if (!allowed.contains(View(field.key))) {
      return Error(path, absl::StrCat("unknown option \"", View(field.key), "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status JsonReader::Object(absl::string_view path, JsonElement value, JsonObject* out) const {
  if (value.get_object().get(*out) != simdjson::SUCCESS) return Error(path, "must be an object");
  return absl::OkStatus();
}

absl::Status JsonReader::Array(absl::string_view path, JsonElement value, JsonArray* out,
                               absl::string_view reason) const {
  if (value.get_array().get(*out) != simdjson::SUCCESS) return Error(path, reason);
  return absl::OkStatus();
}

absl::Status JsonReader::String(absl::string_view path, JsonElement value, std::string* out) const {
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) return Error(path, "must be a string");
  *out = std::string(s);
  return absl::OkStatus();
}

absl::Status JsonReader::Int(absl::string_view path, JsonElement value, int64_t min, int64_t max,
                             int64_t* out) const {
  int64_t v = 0;
  if (value.get_int64().get(v) != simdjson::SUCCESS || v < min || v > max) {
    return Error(path, absl::StrCat("must be an integer from ", min, " to ", max));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status JsonReader::Double(absl::string_view path, JsonElement value, double* out) const {
  if (value.get_double().get(*out) != simdjson::SUCCESS) return Error(path, "must be a number");
  return absl::OkStatus();
}

absl::Status JsonReader::Bool(absl::string_view path, JsonElement value, bool* out) const {
  if (value.get_bool().get(*out) != simdjson::SUCCESS) return Error(path, "must be true or false");
  return absl::OkStatus();
}

}  // namespace sasmint
