#include "common/flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sasmint {

absl::StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args,
                                   const absl::flat_hash_set<std::string>& value_flags,
                                   const absl::flat_hash_set<std::string>& bool_flags) {
  Flags out;
  absl::flat_hash_set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.positional_.insert(out.positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      out.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " given twice"));
    }
    if (value_flags.contains(name)) {
      if (inline_value) {
        out.values_[name] = *inline_value;
      } else if (i + 1 < args.size()) {
        out.values_[name] = args[++i];
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    } else if (bool_flags.contains(name)) {
      if (!inline_value || *inline_value == "true" || *inline_value == "1") {
        out.bools_.insert(name);
      } else if (*inline_value != "false" && *inline_value != "0") {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " takes true or false, not '", *inline_value, "'"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return out;
}

std::optional<std::string> Flags::Get(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

bool Flags::Has(absl::string_view name) const {
  return values_.contains(name) || bools_.contains(name);
}

}  // namespace sasmint
