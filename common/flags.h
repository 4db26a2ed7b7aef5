// flags.h: the command-line flag parser of the sasmint binary.
//
// Accepts `--name value` and `--name=value`. A value flag always takes the next argument as its
// value, even if it begins with '-' (device IDs may). Boolean flags take no separate value
// (`--json`, or `--json=true|false`). Unknown, repeated or value-less flags are errors.
// Thread-compatible.
#ifndef SASMINT_COMMON_FLAGS_H_
#define SASMINT_COMMON_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sasmint {

class Flags {
 public:
  // Parse reads `args` (without the program and subcommand names). `value_flags` and
  // `bool_flags` are names without the leading "--". INVALID_ARGUMENT on an unknown flag, a
  // repeated flag, a missing value, or a bad boolean.
  static absl::StatusOr<Flags> Parse(const std::vector<std::string>& args,
                                     const absl::flat_hash_set<std::string>& value_flags,
                                     const absl::flat_hash_set<std::string>& bool_flags);

  // Get returns the value of a value flag, if given.
  std::optional<std::string> Get(absl::string_view name) const;
  // Has returns whether the flag (value or boolean) was given (a boolean given as false: no).
  bool Has(absl::string_view name) const;
  // positional returns the arguments that are not flags, in order.
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  absl::flat_hash_map<std::string, std::string> values_;
  absl::flat_hash_set<std::string> bools_;
  std::vector<std::string> positional_;
};

}  // namespace sasmint

#endif  // SASMINT_COMMON_FLAGS_H_
