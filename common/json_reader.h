// json_reader.h: typed, checked reads from a parsed JSON document (simdjson's DOM), for the
// sections of the configuration file.
//
// Every object's names are checked against the names its section allows (a misspelt option is
// an error, not a silent default) and every value against its type and range. Errors are
// INVALID_ARGUMENT "source: path: reason", where path is the JSON path of the value (e.g.
// `hubs[0].policies[1].rights`). Values are never quoted in errors (they may be keys).
// Thread-safe (immutable).
#ifndef SASMINT_COMMON_JSON_READER_H_
#define SASMINT_COMMON_JSON_READER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "simdjson.h"

namespace sasmint {

using JsonElement = simdjson::dom::element;
using JsonObject = simdjson::dom::object;
using JsonArray = simdjson::dom::array;

class JsonReader {
 public:
  // `source` names the document in errors; `base_dir` resolves relative paths (ResolvePath).
  JsonReader(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  const std::string& source() const { return source_; }

  // Error returns INVALID_ARGUMENT "source: path: reason".
  absl::Status Error(absl::string_view path, absl::string_view reason) const;
  // ResolvePath returns `path` if absolute (or if there is no base directory), else
  // base_dir/path.
  std::string ResolvePath(absl::string_view path) const;

  // Find returns whether `object` has `name`, and its value in *value.
  static bool Find(JsonObject object, absl::string_view name, JsonElement* value);

  // CheckNames returns an error naming the first name of `object` outside `allowed`.
  absl::Status CheckNames(absl::string_view path, JsonObject object,
                          const absl::flat_hash_set<absl::string_view>& allowed) const;
  // Object, Array, String, Int, Double and Bool read a value of that type; Int within
  // [min, max]. `reason` (Array) is the error's text, e.g. "must be an array of paths".
  absl::Status Object(absl::string_view path, JsonElement value, JsonObject* out) const;
  absl::Status Array(absl::string_view path, JsonElement value, JsonArray* out,
                     absl::string_view reason = "must be an array") const;
  absl::Status String(absl::string_view path, JsonElement value, std::string* out) const;
  absl::Status Int(absl::string_view path, JsonElement value, int64_t min, int64_t max,
                   int64_t* out) const;
  absl::Status Double(absl::string_view path, JsonElement value, double* out) const;
  absl::Status Bool(absl::string_view path, JsonElement value, bool* out) const;

 private:
  std::string source_;
  std::string base_dir_;
};

}  // namespace sasmint

#endif  // SASMINT_COMMON_JSON_READER_H_
