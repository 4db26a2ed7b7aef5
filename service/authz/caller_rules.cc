#include "service/authz/caller_rules.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace sasmint {
namespace {

// ParsePatterns reads a non-empty array of ID patterns at `path`.
absl::Status ParsePatterns(const JsonReader& json, const std::string& path, JsonElement e,
                           std::vector<IdPattern>* out) {
  JsonArray list;
  RETURN_IF_ERROR(json.Array(path, e, &list,
                             "must be an array of IDs or patterns (\"id\", \"prefix*\", \"*\")"));
  size_t i = 0;
  for (JsonElement item : list) {
    const std::string ip = absl::StrCat(path, "[", i++, "]");
    std::string text;
    RETURN_IF_ERROR(json.String(ip, item, &text));
    absl::StatusOr<IdPattern> pattern = IdPattern::Parse(text);
    if (!pattern.ok()) return json.Error(ip, pattern.status().message());
    out->push_back(*std::move(pattern));
  }
  if (out->empty()) return json.Error(path, "must not be empty (omit it instead)");
  return absl::OkStatus();
}

absl::Status ParsePattern(const JsonReader& json, const std::string& path, JsonElement e,
                          std::optional<IdPattern>* out) {
  std::string text;
  RETURN_IF_ERROR(json.String(path, e, &text));
  absl::StatusOr<IdPattern> pattern = IdPattern::Parse(text);
  if (!pattern.ok()) return json.Error(path, pattern.status().message());
  *out = *std::move(pattern);
  return absl::OkStatus();
}

absl::Status ParseAllow(const JsonReader& json, const std::string& path, JsonElement e,
                        AllowRule* out) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object(path, e, &obj));
  RETURN_IF_ERROR(json.CheckNames(
      path, obj, {"hub", "devices", "modules", "policies", "id_scope", "registrations"}));
  JsonElement v;
  if (JsonReader::Find(obj, "hub", &v))
    RETURN_IF_ERROR(ParsePattern(json, path + ".hub", v, &out->hub));
  if (JsonReader::Find(obj, "id_scope", &v)) {
    RETURN_IF_ERROR(ParsePattern(json, path + ".id_scope", v, &out->id_scope));
  }
  for (auto [name, list] :
       {std::pair<const char*, std::vector<IdPattern>*>{"devices", &out->devices},
        {"policies", &out->policies},
        {"registrations", &out->registrations}}) {
    if (!JsonReader::Find(obj, name, &v)) continue;
    RETURN_IF_ERROR(ParsePatterns(json, absl::StrCat(path, ".", name), v, list));
  }
  if (JsonReader::Find(obj, "modules", &v)) {
    RETURN_IF_ERROR(json.Bool(path + ".modules", v, &out->modules));
  }
  return absl::OkStatus();
}

// ParseMatch reads a rule's `match`: exactly one of common_name, san, spiffe and anonymous.
absl::Status ParseMatch(const JsonReader& json, const std::string& path, JsonElement e,
                        CallerRule* rule) {
  JsonObject match;
  RETURN_IF_ERROR(json.Object(path, e, &match));
  RETURN_IF_ERROR(json.CheckNames(path, match, {"common_name", "san", "spiffe", "anonymous"}));
  if (match.size() != 1) {
    return json.Error(path, "give exactly one of common_name, san, spiffe and anonymous");
  }
  for (auto field : match) {
    const std::string key(field.key);
    if (key == "anonymous") {
      bool anonymous = false;
      RETURN_IF_ERROR(json.Bool(path + ".anonymous", field.value, &anonymous));
      if (!anonymous) return json.Error(path + ".anonymous", "must be true (or omitted)");
      rule->match = CallerMatch::kAnonymous;
      continue;
    }
    rule->match = key == "common_name" ? CallerMatch::kCommonName
                  : key == "san"       ? CallerMatch::kSan
                                       : CallerMatch::kSpiffe;
    RETURN_IF_ERROR(json.String(absl::StrCat(path, ".", key), field.value, &rule->match_value));
  }
  return absl::OkStatus();
}

absl::Status ParseRule(const JsonReader& json, const std::string& path, JsonElement e,
                       CallerRule* rule) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object(path, e, &obj));
  RETURN_IF_ERROR(json.CheckNames(path, obj, {"name", "match", "allow", "admin"}));
  JsonElement v;
  if (!JsonReader::Find(obj, "name", &v)) return json.Error(path, "missing \"name\"");
  RETURN_IF_ERROR(json.String(path + ".name", v, &rule->name));
  if (!JsonReader::Find(obj, "match", &v)) {
    return json.Error(path,
                      "missing \"match\": {\"common_name\" | \"san\" | \"spiffe\": \"...\"} or "
                      "{\"anonymous\": true}");
  }
  RETURN_IF_ERROR(ParseMatch(json, path + ".match", v, rule));
  if (JsonReader::Find(obj, "allow", &v)) {
    JsonArray allow;
    RETURN_IF_ERROR(json.Array(path + ".allow", v, &allow));
    size_t j = 0;
    for (JsonElement a : allow) {
      AllowRule rule_allow;
      RETURN_IF_ERROR(ParseAllow(json, absl::StrCat(path, ".allow[", j++, "]"), a, &rule_allow));
      rule->allow.push_back(std::move(rule_allow));
    }
  }
  if (JsonReader::Find(obj, "admin", &v))
    RETURN_IF_ERROR(json.Bool(path + ".admin", v, &rule->admin));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Authorizer> ParseCallerRules(const JsonReader& json, JsonElement callers) {
  JsonArray list;
  RETURN_IF_ERROR(json.Array("callers", callers, &list, "must be an array of caller rules"));
  std::vector<CallerRule> rules;
  size_t i = 0;
  for (JsonElement item : list) {
    CallerRule rule;
    RETURN_IF_ERROR(ParseRule(json, absl::StrCat("callers[", i++, "]"), item, &rule));
    rules.push_back(std::move(rule));
  }
  absl::StatusOr<Authorizer> authorizer = Authorizer::Create(std::move(rules));
  if (!authorizer.ok()) {
    // "callers[i]...: reason": the path is already in the message.
    return absl::InvalidArgumentError(
        absl::StrCat(json.source(), ": ", authorizer.status().message()));
  }
  return authorizer;
}

}  // namespace sasmint
