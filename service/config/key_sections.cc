// The key sources of the configuration: `hubs` (with their policies and device files) and `dps`
// (enrollment groups). Keys are read inline or from files and kept decoded in SecretBytes.
#include <glob.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "service/config/internal/sections.h"
#include "service/keystore/rights.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"

namespace sasmint::internal {
namespace {

// ReadKeyFile returns the trimmed base64 text of a key file. The buffer holding it is wiped by
// the caller once decoded.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read key file ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  std::string out(trimmed);
  crypto::Cleanse(text.data(), text.size());
  return out;
}

// KeyText returns the base64 text of `<slot>_key` or `<slot>_key_file` of `obj`, or nullopt if
// neither is given, with the field's path in *field_path.
absl::StatusOr<std::optional<std::string>> KeyText(const ConfigReader& reader,
                                                   absl::string_view path, JsonObject obj,
                                                   absl::string_view slot,
                                                   std::string* field_path) {
  const JsonReader& json = reader.json;
  const std::string inline_name = absl::StrCat(slot, "_key");
  const std::string file_name = absl::StrCat(slot, "_key_file");
  JsonElement inline_value, file_value;
  const bool has_inline = JsonReader::Find(obj, inline_name, &inline_value);
  const bool has_file = JsonReader::Find(obj, file_name, &file_value);
  if (has_inline && has_file) {
    return json.Error(path, absl::StrCat("give ", inline_name, " or ", file_name, ", not both"));
  }
  if (!has_inline && !has_file) return std::nullopt;
  *field_path = absl::StrCat(path, ".", has_inline ? inline_name : file_name);
  std::string text;
  if (has_inline) {
    RETURN_IF_ERROR(json.String(*field_path, inline_value, &text));
    return std::optional<std::string>(std::move(text));
  }
  std::string file;
  RETURN_IF_ERROR(json.String(*field_path, file_value, &file));
  const std::string resolved = json.ResolvePath(file);
  if (reader.watched_files != nullptr) reader.watched_files->push_back(resolved);
  absl::StatusOr<std::string> read = ReadKeyFile(resolved);
  if (!read.ok()) {
    return absl::Status(read.status().code(), absl::StrCat(json.source(), ": ", *field_path, ": ",
                                                           read.status().message()));
  }
  return *std::move(read);
}

// ParseKey reads `<slot>_key` or `<slot>_key_file` of `obj` into `out`.
absl::Status ParseKey(const ConfigReader& reader, absl::string_view path, JsonObject obj,
                      absl::string_view slot, bool any_length, std::optional<SecretBytes>* out) {
  std::string field_path;
  ASSIGN_OR_RETURN(std::optional<std::string> text, KeyText(reader, path, obj, slot, &field_path));
  if (!text) return absl::OkStatus();
  auto key = DecodeBase64Key(*text, "key");
  crypto::Cleanse(text->data(), text->size());
  if (!key.ok()) return reader.json.Error(field_path, key.status().message());
  if (!any_length) {
    if (auto s = ValidateKeyLength(*key, "key"); !s.ok()) {
      return reader.json.Error(field_path, s.message());
    }
  }
  *out = *std::move(key);
  return absl::OkStatus();
}

absl::Status ParseKeyPair(const ConfigReader& reader, absl::string_view path, JsonObject obj,
                          bool any_length, KeyPairConfig* out) {
  RETURN_IF_ERROR(ParseKey(reader, path, obj, "primary", any_length, &out->primary));
  RETURN_IF_ERROR(ParseKey(reader, path, obj, "secondary", any_length, &out->secondary));
  if (!out->primary && !out->secondary) {
    return reader.json.Error(path, "needs primary_key(_file) or secondary_key(_file)");
  }
  return absl::OkStatus();
}

absl::Status ParsePolicy(const ConfigReader& reader, absl::string_view path, JsonElement e,
                         PolicyConfig* out) {
  const JsonReader& json = reader.json;
  JsonObject obj;
  RETURN_IF_ERROR(json.Object(path, e, &obj));
  RETURN_IF_ERROR(json.CheckNames(path, obj,
                                  {"name", "rights", "primary_key", "primary_key_file",
                                   "secondary_key", "secondary_key_file"}));
  JsonElement v;
  if (!JsonReader::Find(obj, "name", &v)) return json.Error(path, "missing \"name\"");
  RETURN_IF_ERROR(json.String(absl::StrCat(path, ".name"), v, &out->name));
  if (auto s = ValidatePolicyName(out->name); !s.ok()) {
    return json.Error(absl::StrCat(path, ".name"), s.message());
  }
  JsonArray rights;
  if (!JsonReader::Find(obj, "rights", &v) || v.get_array().get(rights) != simdjson::SUCCESS) {
    return json.Error(path, "needs \"rights\": an array such as [\"DeviceConnect\"]");
  }
  size_t i = 0;
  for (JsonElement r : rights) {
    const std::string rp = absl::StrCat(path, ".rights[", i++, "]");
    std::string name;
    RETURN_IF_ERROR(json.String(rp, r, &name));
    absl::StatusOr<uint32_t> right = ParseRight(name);
    if (!right.ok()) return json.Error(rp, right.status().message());
    out->rights |= *right;
  }
  if (out->rights == 0) return json.Error(path, "rights must not be empty");
  return ParseKeyPair(reader, path, obj, /*any_length=*/false, &out->keys);
}

absl::Status ParseActiveSlot(const JsonReader& json, const std::string& path, JsonElement v,
                             KeySlot* out) {
  std::string slot;
  RETURN_IF_ERROR(json.String(path, v, &slot));
  if (slot == "primary") {
    *out = KeySlot::kPrimary;
  } else if (slot == "secondary") {
    *out = KeySlot::kSecondary;
  } else {
    return json.Error(path, "must be \"primary\" or \"secondary\"");
  }
  return absl::OkStatus();
}

// AddDeviceFiles adds `file`, or, if its last component holds a `*` or `?`, every file it
// matches, sorted (a shell wildcard, expanded at every load and reload, so that shards added to
// a mounted directory are read with no change here). Names starting with a dot never match: the
// kubelet's `..data` and timestamped directories stay out. A pattern that matches nothing is an
// error: a key source that vanished must not look like an empty fleet.
absl::Status AddDeviceFiles(const JsonReader& json, const std::string& item,
                            const std::string& file, std::vector<std::string>* out) {
  const size_t slash = file.rfind('/');
  const absl::string_view name = slash == std::string::npos
                                     ? absl::string_view(file)
                                     : absl::string_view(file).substr(slash + 1);
  if (absl::string_view(file)
          .substr(0, slash == std::string::npos ? 0 : slash)
          .find_first_of("*?[") != absl::string_view::npos) {
    return json.Error(item, "a wildcard may only be in the file name, not in a directory");
  }
  if (name.find_first_of("*?") == absl::string_view::npos) {
    out->push_back(file);
    return absl::OkStatus();
  }
  glob_t matches{};
  const int rc = glob(file.c_str(), GLOB_ERR | GLOB_NOSORT, nullptr, &matches);
  const auto free_matches = absl::MakeCleanup([&matches] { globfree(&matches); });
  if (rc == GLOB_NOMATCH) return json.Error(item, absl::StrCat(file, " matches no file"));
  if (rc != 0) return json.Error(item, absl::StrCat("cannot list the directory of ", file));
  std::vector<std::string> files(matches.gl_pathv, matches.gl_pathv + matches.gl_pathc);
  std::sort(files.begin(), files.end());
  out->insert(out->end(), files.begin(), files.end());
  return absl::OkStatus();
}

absl::Status ParseHub(const ConfigReader& reader, absl::string_view path, JsonElement e,
                      HubConfig* out) {
  const JsonReader& json = reader.json;
  JsonObject obj;
  RETURN_IF_ERROR(json.Object(path, e, &obj));
  RETURN_IF_ERROR(json.CheckNames(
      path, obj, {"host", "device_files", "active_slot", "device_policy", "policies"}));
  JsonElement v;
  if (!JsonReader::Find(obj, "host", &v)) return json.Error(path, "missing \"host\"");
  RETURN_IF_ERROR(json.String(absl::StrCat(path, ".host"), v, &out->host));
  if (auto s = ValidateHubHost(out->host); !s.ok()) {
    return json.Error(absl::StrCat(path, ".host"), s.message());
  }
  if (JsonReader::Find(obj, "device_files", &v)) {
    JsonArray files;
    RETURN_IF_ERROR(
        json.Array(absl::StrCat(path, ".device_files"), v, &files, "must be an array of paths"));
    size_t i = 0;
    for (JsonElement f : files) {
      std::string file;
      const std::string item = absl::StrCat(path, ".device_files[", i++, "]");
      RETURN_IF_ERROR(json.String(item, f, &file));
      RETURN_IF_ERROR(AddDeviceFiles(json, item, json.ResolvePath(file), &out->device_files));
    }
  }
  if (JsonReader::Find(obj, "active_slot", &v)) {
    RETURN_IF_ERROR(
        ParseActiveSlot(json, absl::StrCat(path, ".active_slot"), v, &out->settings.active_slot));
  }
  if (JsonReader::Find(obj, "device_policy", &v)) {
    RETURN_IF_ERROR(
        json.String(absl::StrCat(path, ".device_policy"), v, &out->settings.device_policy));
  }
  if (JsonReader::Find(obj, "policies", &v)) {
    JsonArray policies;
    RETURN_IF_ERROR(json.Array(absl::StrCat(path, ".policies"), v, &policies));
    size_t i = 0;
    for (JsonElement p : policies) {
      PolicyConfig policy;
      RETURN_IF_ERROR(ParsePolicy(reader, absl::StrCat(path, ".policies[", i++, "]"), p, &policy));
      out->policies.push_back(std::move(policy));
    }
  }
  if (!out->settings.device_policy.empty()) {
    const PolicyConfig* found = nullptr;
    for (const PolicyConfig& p : out->policies) {
      if (p.name == out->settings.device_policy) found = &p;
    }
    if (found == nullptr || (found->rights & kDeviceConnect) == 0) {
      return json.Error(absl::StrCat(path, ".device_policy"),
                        "must name a policy of this hub with the DeviceConnect right");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseDpsGroup(const ConfigReader& reader, const std::string& path, JsonElement e,
                           DpsGroupConfig* group) {
  const JsonReader& json = reader.json;
  JsonObject obj;
  RETURN_IF_ERROR(json.Object(path, e, &obj));
  RETURN_IF_ERROR(json.CheckNames(path, obj,
                                  {"name", "registration_prefix", "primary_key", "primary_key_file",
                                   "secondary_key", "secondary_key_file"}));
  JsonElement v;
  if (!JsonReader::Find(obj, "name", &v)) return json.Error(path, "missing \"name\"");
  RETURN_IF_ERROR(json.String(absl::StrCat(path, ".name"), v, &group->name));
  if (JsonReader::Find(obj, "registration_prefix", &v)) {
    RETURN_IF_ERROR(
        json.String(absl::StrCat(path, ".registration_prefix"), v, &group->registration_prefix));
  }
  // Group keys are normally 64 bytes, but HMAC takes any length (docs/token-spec.md §3.5, TV-8).
  return ParseKeyPair(reader, path, obj, /*any_length=*/true, &group->keys);
}

absl::Status ParseDps(const ConfigReader& reader, absl::string_view path, JsonElement e,
                      DpsConfig* out) {
  const JsonReader& json = reader.json;
  JsonObject obj;
  RETURN_IF_ERROR(json.Object(path, e, &obj));
  RETURN_IF_ERROR(json.CheckNames(path, obj, {"id_scope", "groups"}));
  JsonElement v;
  if (!JsonReader::Find(obj, "id_scope", &v)) return json.Error(path, "missing \"id_scope\"");
  RETURN_IF_ERROR(json.String(absl::StrCat(path, ".id_scope"), v, &out->id_scope));
  if (auto s = ValidateScope(TokenScope::Registration(out->id_scope, "x")); !s.ok()) {
    return json.Error(absl::StrCat(path, ".id_scope"), s.message());
  }
  JsonArray groups;
  if (!JsonReader::Find(obj, "groups", &v) || v.get_array().get(groups) != simdjson::SUCCESS) {
    return json.Error(path, "needs \"groups\": an array of enrollment groups");
  }
  size_t i = 0;
  for (JsonElement g : groups) {
    DpsGroupConfig group;
    RETURN_IF_ERROR(ParseDpsGroup(reader, absl::StrCat(path, ".groups[", i++, "]"), g, &group));
    out->groups.push_back(std::move(group));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseHubs(const ConfigReader& reader, JsonElement value, ServiceConfig* config) {
  JsonArray hubs;
  RETURN_IF_ERROR(reader.json.Array("hubs", value, &hubs));
  size_t i = 0;
  for (JsonElement h : hubs) {
    const std::string path = absl::StrCat("hubs[", i++, "]");
    HubConfig hub;
    RETURN_IF_ERROR(ParseHub(reader, path, h, &hub));
    for (const HubConfig& other : config->hubs) {
      if (other.host == hub.host) {
        return reader.json.Error(path, absl::StrCat("hub ", hub.host, " is configured twice"));
      }
    }
    config->hubs.push_back(std::move(hub));
  }
  return absl::OkStatus();
}

absl::Status ParseDpsScopes(const ConfigReader& reader, JsonElement value, ServiceConfig* config) {
  JsonArray dps;
  RETURN_IF_ERROR(reader.json.Array("dps", value, &dps));
  size_t i = 0;
  for (JsonElement d : dps) {
    DpsConfig entry;
    RETURN_IF_ERROR(ParseDps(reader, absl::StrCat("dps[", i++, "]"), d, &entry));
    config->dps.push_back(std::move(entry));
  }
  return absl::OkStatus();
}

}  // namespace sasmint::internal
