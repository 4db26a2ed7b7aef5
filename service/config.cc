#include "service/config.h"

#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string_view>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "service/authorizer.h"
#include "service/keystore/export_loader.h"
#include "service/log.h"
#include "signer/crypto_backend.h"
#include "signer/encoding.h"
#include "signer/sas_token.h"
#include "simdjson.h"

namespace sasmint {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

absl::string_view View(std::string_view v) { return absl::string_view(v.data(), v.size()); }

// Context carries the source name and base directory, and formats "source: path: reason".
struct Context {
  std::string source;
  std::string base_dir;
  std::vector<std::string>* files = nullptr;  // key files read, for ServiceConfig::watched_files

  absl::Status Error(absl::string_view path, absl::string_view reason) const {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", path, ": ", reason));
  }
  std::string Resolve(absl::string_view path) const {
    if (path.empty() || path[0] == '/' || base_dir.empty()) return std::string(path);
    return absl::StrCat(base_dir, "/", path);
  }
};

// Fields iterates an object, rejecting names outside `allowed`.
absl::Status CheckNames(const Context& ctx, absl::string_view path, object obj,
                        const absl::flat_hash_set<absl::string_view>& allowed) {
  for (auto field : obj) {
    if (!allowed.contains(View(field.key))) {
      return ctx.Error(path, absl::StrCat("unknown option \"", View(field.key), "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status GetObject(const Context& ctx, absl::string_view path, element e, object* out) {
  if (e.get_object().get(*out) != simdjson::SUCCESS) return ctx.Error(path, "must be an object");
  return absl::OkStatus();
}

absl::Status GetString(const Context& ctx, absl::string_view path, element e, std::string* out) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return ctx.Error(path, "must be a string");
  *out = std::string(s);
  return absl::OkStatus();
}

absl::Status GetInt(const Context& ctx, absl::string_view path, element e, int64_t min, int64_t max,
                    int64_t* out) {
  int64_t v = 0;
  if (e.get_int64().get(v) != simdjson::SUCCESS || v < min || v > max) {
    return ctx.Error(path, absl::StrCat("must be an integer from ", min, " to ", max));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status GetDouble(const Context& ctx, absl::string_view path, element e, double* out) {
  if (e.get_double().get(*out) != simdjson::SUCCESS) return ctx.Error(path, "must be a number");
  return absl::OkStatus();
}

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

// ParseKey reads `<slot>_key` or `<slot>_key_file` of `obj` into `out`.
absl::Status ParseKey(const Context& ctx, absl::string_view path, object obj,
                      absl::string_view slot, bool any_length, std::optional<SecretBytes>* out) {
  const std::string inline_name = absl::StrCat(slot, "_key");
  const std::string file_name = absl::StrCat(slot, "_key_file");
  element inline_value, file_value;
  const bool has_inline = obj[inline_name].get(inline_value) == simdjson::SUCCESS;
  const bool has_file = obj[file_name].get(file_value) == simdjson::SUCCESS;
  if (has_inline && has_file) {
    return ctx.Error(path, absl::StrCat("give ", inline_name, " or ", file_name, ", not both"));
  }
  if (!has_inline && !has_file) return absl::OkStatus();
  std::string text;
  const std::string field_path = absl::StrCat(path, ".", has_inline ? inline_name : file_name);
  if (has_inline) {
    if (auto s = GetString(ctx, field_path, inline_value, &text); !s.ok()) return s;
  } else {
    std::string file;
    if (auto s = GetString(ctx, field_path, file_value, &file); !s.ok()) return s;
    const std::string resolved = ctx.Resolve(file);
    if (ctx.files != nullptr) ctx.files->push_back(resolved);
    auto read = ReadKeyFile(resolved);
    if (!read.ok()) {
      return absl::Status(read.status().code(), absl::StrCat(ctx.source, ": ", field_path, ": ",
                                                             read.status().message()));
    }
    text = *std::move(read);
  }
  auto key = DecodeBase64Key(text, "key");
  crypto::Cleanse(text.data(), text.size());
  if (!key.ok()) return ctx.Error(field_path, key.status().message());
  if (!any_length) {
    if (auto s = ValidateKeyLength(*key, "key"); !s.ok()) return ctx.Error(field_path, s.message());
  }
  *out = *std::move(key);
  return absl::OkStatus();
}

absl::Status ParseKeyPair(const Context& ctx, absl::string_view path, object obj, bool any_length,
                          KeyPairConfig* out) {
  if (auto s = ParseKey(ctx, path, obj, "primary", any_length, &out->primary); !s.ok()) return s;
  if (auto s = ParseKey(ctx, path, obj, "secondary", any_length, &out->secondary); !s.ok()) {
    return s;
  }
  if (!out->primary && !out->secondary) {
    return ctx.Error(path, "needs primary_key(_file) or secondary_key(_file)");
  }
  return absl::OkStatus();
}

absl::Status ParsePolicy(const Context& ctx, absl::string_view path, element e, PolicyConfig* out) {
  object obj;
  if (auto s = GetObject(ctx, path, e, &obj); !s.ok()) return s;
  if (auto s = CheckNames(ctx, path, obj,
                          {"name", "rights", "primary_key", "primary_key_file", "secondary_key",
                           "secondary_key_file"});
      !s.ok()) {
    return s;
  }
  element v;
  if (obj["name"].get(v) != simdjson::SUCCESS) return ctx.Error(path, "missing \"name\"");
  if (auto s = GetString(ctx, absl::StrCat(path, ".name"), v, &out->name); !s.ok()) return s;
  if (auto s = ValidatePolicyName(out->name); !s.ok()) {
    return ctx.Error(absl::StrCat(path, ".name"), s.message());
  }
  simdjson::dom::array rights;
  if (obj["rights"].get(v) != simdjson::SUCCESS || v.get_array().get(rights) != simdjson::SUCCESS) {
    return ctx.Error(path, "needs \"rights\": an array such as [\"DeviceConnect\"]");
  }
  size_t i = 0;
  for (element r : rights) {
    const std::string rp = absl::StrCat(path, ".rights[", i++, "]");
    std::string name;
    if (auto s = GetString(ctx, rp, r, &name); !s.ok()) return s;
    auto right = ParseRight(name);
    if (!right.ok()) return ctx.Error(rp, right.status().message());
    out->rights |= *right;
  }
  if (out->rights == 0) return ctx.Error(path, "rights must not be empty");
  return ParseKeyPair(ctx, path, obj, /*any_length=*/false, &out->keys);
}

absl::Status ParseHub(const Context& ctx, absl::string_view path, element e, HubConfig* out) {
  object obj;
  if (auto s = GetObject(ctx, path, e, &obj); !s.ok()) return s;
  if (auto s = CheckNames(ctx, path, obj,
                          {"host", "device_files", "active_slot", "device_policy", "policies"});
      !s.ok()) {
    return s;
  }
  element v;
  if (obj["host"].get(v) != simdjson::SUCCESS) return ctx.Error(path, "missing \"host\"");
  if (auto s = GetString(ctx, absl::StrCat(path, ".host"), v, &out->host); !s.ok()) return s;
  if (auto s = ValidateHubHost(out->host); !s.ok()) {
    return ctx.Error(absl::StrCat(path, ".host"), s.message());
  }
  if (obj["device_files"].get(v) == simdjson::SUCCESS) {
    simdjson::dom::array files;
    if (v.get_array().get(files) != simdjson::SUCCESS) {
      return ctx.Error(absl::StrCat(path, ".device_files"), "must be an array of paths");
    }
    size_t i = 0;
    for (element f : files) {
      std::string file;
      if (auto s = GetString(ctx, absl::StrCat(path, ".device_files[", i++, "]"), f, &file);
          !s.ok()) {
        return s;
      }
      out->device_files.push_back(ctx.Resolve(file));
    }
  }
  if (obj["active_slot"].get(v) == simdjson::SUCCESS) {
    std::string slot;
    if (auto s = GetString(ctx, absl::StrCat(path, ".active_slot"), v, &slot); !s.ok()) return s;
    if (slot == "primary") {
      out->settings.active_slot = KeySlot::kPrimary;
    } else if (slot == "secondary") {
      out->settings.active_slot = KeySlot::kSecondary;
    } else {
      return ctx.Error(absl::StrCat(path, ".active_slot"), "must be \"primary\" or \"secondary\"");
    }
  }
  if (obj["device_policy"].get(v) == simdjson::SUCCESS) {
    if (auto s =
            GetString(ctx, absl::StrCat(path, ".device_policy"), v, &out->settings.device_policy);
        !s.ok()) {
      return s;
    }
  }
  if (obj["policies"].get(v) == simdjson::SUCCESS) {
    simdjson::dom::array policies;
    if (v.get_array().get(policies) != simdjson::SUCCESS) {
      return ctx.Error(absl::StrCat(path, ".policies"), "must be an array");
    }
    size_t i = 0;
    for (element p : policies) {
      PolicyConfig policy;
      if (auto s = ParsePolicy(ctx, absl::StrCat(path, ".policies[", i++, "]"), p, &policy);
          !s.ok()) {
        return s;
      }
      out->policies.push_back(std::move(policy));
    }
  }
  if (!out->settings.device_policy.empty()) {
    const PolicyConfig* found = nullptr;
    for (const PolicyConfig& p : out->policies) {
      if (p.name == out->settings.device_policy) found = &p;
    }
    if (found == nullptr || (found->rights & kDeviceConnect) == 0) {
      return ctx.Error(absl::StrCat(path, ".device_policy"),
                       "must name a policy of this hub with the DeviceConnect right");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseDps(const Context& ctx, absl::string_view path, element e, DpsConfig* out) {
  object obj;
  if (auto s = GetObject(ctx, path, e, &obj); !s.ok()) return s;
  if (auto s = CheckNames(ctx, path, obj, {"id_scope", "groups"}); !s.ok()) return s;
  element v;
  if (obj["id_scope"].get(v) != simdjson::SUCCESS) return ctx.Error(path, "missing \"id_scope\"");
  if (auto s = GetString(ctx, absl::StrCat(path, ".id_scope"), v, &out->id_scope); !s.ok()) {
    return s;
  }
  if (auto s = ValidateScope(TokenScope::Registration(out->id_scope, "x")); !s.ok()) {
    return ctx.Error(absl::StrCat(path, ".id_scope"), s.message());
  }
  simdjson::dom::array groups;
  if (obj["groups"].get(v) != simdjson::SUCCESS || v.get_array().get(groups) != simdjson::SUCCESS) {
    return ctx.Error(path, "needs \"groups\": an array of enrollment groups");
  }
  size_t i = 0;
  for (element g : groups) {
    const std::string gp = absl::StrCat(path, ".groups[", i++, "]");
    object gobj;
    if (auto s = GetObject(ctx, gp, g, &gobj); !s.ok()) return s;
    if (auto s = CheckNames(ctx, gp, gobj,
                            {"name", "registration_prefix", "primary_key", "primary_key_file",
                             "secondary_key", "secondary_key_file"});
        !s.ok()) {
      return s;
    }
    DpsGroupConfig group;
    if (gobj["name"].get(v) != simdjson::SUCCESS) return ctx.Error(gp, "missing \"name\"");
    if (auto s = GetString(ctx, absl::StrCat(gp, ".name"), v, &group.name); !s.ok()) return s;
    if (gobj["registration_prefix"].get(v) == simdjson::SUCCESS) {
      if (auto s = GetString(ctx, absl::StrCat(gp, ".registration_prefix"), v,
                             &group.registration_prefix);
          !s.ok()) {
        return s;
      }
    }
    // Group keys are normally 64 bytes, but HMAC takes any length (spec TV-8).
    if (auto s = ParseKeyPair(ctx, gp, gobj, /*any_length=*/true, &group.keys); !s.ok()) return s;
    out->groups.push_back(std::move(group));
  }
  return absl::OkStatus();
}

absl::Status ParseLimits(const Context& ctx, element e, ServerOptions* server) {
  object obj;
  if (auto s = GetObject(ctx, "limits", e, &obj); !s.ok()) return s;
  MintOptions& m = server->mint;
  struct IntOption {
    const char* name;
    int64_t min, max;
    std::function<void(int64_t)> set;
  };
  const std::vector<IntOption> ints = {
      {"default_ttl_seconds", 1, UINT32_MAX, [&](int64_t v) { m.default_ttl_seconds = v; }},
      {"min_ttl_seconds", 1, UINT32_MAX, [&](int64_t v) { m.min_ttl_seconds = v; }},
      {"max_ttl_seconds", 1, UINT32_MAX, [&](int64_t v) { m.max_ttl_seconds = v; }},
      {"max_batch_size", 1, 1000000, [&](int64_t v) { m.max_batch_size = v; }},
      {"dps_key_cache_size", 0, 100000000, [&](int64_t v) { m.dps_key_cache_size = v; }},
      {"max_message_bytes", 1024, INT32_MAX, [&](int64_t v) { server->max_message_bytes = v; }},
      {"max_concurrent_streams", 1, 1000000,
       [&](int64_t v) { server->max_concurrent_streams = v; }},
      {"keepalive_min_ping_interval_seconds", 1, 86400,
       [&](int64_t v) { server->keepalive_min_ping_interval_seconds = v; }},
      {"max_ping_strikes", 0, 1000, [&](int64_t v) { server->max_ping_strikes = v; }},
      {"max_connection_idle_seconds", 0, 86400 * 7,
       [&](int64_t v) { server->max_connection_idle_seconds = v; }},
      {"max_connection_age_seconds", 0, 86400 * 7,
       [&](int64_t v) { server->max_connection_age_seconds = v; }},
      {"max_connection_age_grace_seconds", 0, 86400,
       [&](int64_t v) { server->max_connection_age_grace_seconds = v; }},
      {"worker_threads", 0, 1024, [&](int64_t v) { server->pool.threads = v; }},
      {"slice_items", 1, 1000000, [&](int64_t v) { server->pool.slice_items = v; }},
      {"max_queued_batches", 1, 1000000, [&](int64_t v) { server->pool.max_queued_batches = v; }},
      {"shutdown_drain_ms", 0, 600000, [&](int64_t v) { server->shutdown_drain_ms = v; }},
      {"shutdown_grace_seconds", 0, 3600, [&](int64_t v) { server->shutdown_grace_seconds = v; }},
  };
  absl::flat_hash_set<absl::string_view> names = {"renew_window_start", "renew_window_end"};
  for (const IntOption& o : ints) names.insert(o.name);
  if (auto s = CheckNames(ctx, "limits", obj, names); !s.ok()) return s;
  element v;
  for (const IntOption& o : ints) {
    if (obj[o.name].get(v) != simdjson::SUCCESS) continue;
    int64_t value = 0;
    if (auto s = GetInt(ctx, absl::StrCat("limits.", o.name), v, o.min, o.max, &value); !s.ok()) {
      return s;
    }
    o.set(value);
  }
  if (obj["renew_window_start"].get(v) == simdjson::SUCCESS) {
    if (auto s = GetDouble(ctx, "limits.renew_window_start", v, &m.renew_window_start); !s.ok()) {
      return s;
    }
  }
  if (obj["renew_window_end"].get(v) == simdjson::SUCCESS) {
    if (auto s = GetDouble(ctx, "limits.renew_window_end", v, &m.renew_window_end); !s.ok()) {
      return s;
    }
  }
  if (auto s = ValidateServerOptions(*server); !s.ok()) return ctx.Error("limits", s.message());
  return absl::OkStatus();
}

absl::Status GetBool(const Context& ctx, absl::string_view path, element e, bool* out) {
  if (e.get_bool().get(*out) != simdjson::SUCCESS) return ctx.Error(path, "must be true or false");
  return absl::OkStatus();
}

absl::Status ParseAdmin(const Context& ctx, element e, ServiceConfig* config) {
  object obj;
  if (auto s = GetObject(ctx, "admin", e, &obj); !s.ok()) return s;
  if (auto s =
          CheckNames(ctx, "admin", obj, {"listen", "authoritative", "max_entries_per_request"});
      !s.ok()) {
    return s;
  }
  element v;
  if (obj["listen"].get(v) == simdjson::SUCCESS) {
    std::string& listen = config->server.admin_listen_address;
    if (auto s = GetString(ctx, "admin.listen", v, &listen); !s.ok()) return s;
    if (listen.empty()) return ctx.Error("admin.listen", "must not be empty (omit it instead)");
  }
  if (obj["authoritative"].get(v) == simdjson::SUCCESS) {
    if (auto s = GetBool(ctx, "admin.authoritative", v, &config->admin.authoritative); !s.ok()) {
      return s;
    }
  }
  if (obj["max_entries_per_request"].get(v) == simdjson::SUCCESS) {
    int64_t n = 0;
    if (auto s = GetInt(ctx, "admin.max_entries_per_request", v, 1, 1000000, &n); !s.ok()) {
      return s;
    }
    config->admin.max_entries_per_request = static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ParseRotation(const Context& ctx, element e, RetentionOptions* out) {
  object obj;
  if (auto s = GetObject(ctx, "rotation", e, &obj); !s.ok()) return s;
  if (auto s = CheckNames(ctx, "rotation", obj, {"retired_keep_seconds", "retired_keep_count"});
      !s.ok()) {
    return s;
  }
  element v;
  int64_t n = 0;
  if (obj["retired_keep_seconds"].get(v) == simdjson::SUCCESS) {
    if (auto s = GetInt(ctx, "rotation.retired_keep_seconds", v, 0, 366 * 86400, &n); !s.ok()) {
      return s;
    }
    out->keep_seconds = n;
  }
  if (obj["retired_keep_count"].get(v) == simdjson::SUCCESS) {
    if (auto s = GetInt(ctx, "rotation.retired_keep_count", v, 0, 100, &n); !s.ok()) return s;
    out->keep_count = static_cast<uint32_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ParseTls(const Context& ctx, element e, TlsOptions* out) {
  object obj;
  if (auto s = GetObject(ctx, "tls", e, &obj); !s.ok()) return s;
  if (auto s = CheckNames(ctx, "tls", obj,
                          {"cert_file", "key_file", "client_ca_file", "require_client_cert"});
      !s.ok()) {
    return s;
  }
  element v;
  for (auto [name, field] : {std::pair<const char*, std::string*>{"cert_file", &out->cert_file},
                             {"key_file", &out->key_file},
                             {"client_ca_file", &out->client_ca_file}}) {
    if (obj[name].get(v) != simdjson::SUCCESS) continue;
    const std::string path = absl::StrCat("tls.", name);
    std::string file;
    if (auto s = GetString(ctx, path, v, &file); !s.ok()) return s;
    if (file.empty()) return ctx.Error(path, "must not be empty (omit it instead)");
    *field = ctx.Resolve(file);
  }
  if (obj["require_client_cert"].get(v) == simdjson::SUCCESS) {
    bool require = false;
    if (auto s = GetBool(ctx, "tls.require_client_cert", v, &require); !s.ok()) return s;
    out->require_client_cert = require;
  }
  if (auto s = ValidateTlsOptions(*out); !s.ok()) {
    return ctx.Error("tls", absl::StripPrefix(s.message(), "tls: "));
  }
  return absl::OkStatus();
}

// ParsePatterns reads an array of ID patterns at `path`.
absl::Status ParsePatterns(const Context& ctx, const std::string& path, element e,
                           std::vector<IdPattern>* out) {
  simdjson::dom::array list;
  if (e.get_array().get(list) != simdjson::SUCCESS) {
    return ctx.Error(path, "must be an array of IDs or patterns (\"id\", \"prefix*\", \"*\")");
  }
  size_t i = 0;
  for (element item : list) {
    const std::string ip = absl::StrCat(path, "[", i++, "]");
    std::string text;
    if (auto s = GetString(ctx, ip, item, &text); !s.ok()) return s;
    absl::StatusOr<IdPattern> pattern = IdPattern::Parse(text);
    if (!pattern.ok()) return ctx.Error(ip, pattern.status().message());
    out->push_back(*std::move(pattern));
  }
  if (out->empty()) return ctx.Error(path, "must not be empty (omit it instead)");
  return absl::OkStatus();
}

absl::Status ParsePattern(const Context& ctx, const std::string& path, element e,
                          std::optional<IdPattern>* out) {
  std::string text;
  if (auto s = GetString(ctx, path, e, &text); !s.ok()) return s;
  absl::StatusOr<IdPattern> pattern = IdPattern::Parse(text);
  if (!pattern.ok()) return ctx.Error(path, pattern.status().message());
  *out = *std::move(pattern);
  return absl::OkStatus();
}

absl::Status ParseAllow(const Context& ctx, const std::string& path, element e, AllowRule* out) {
  object obj;
  if (auto s = GetObject(ctx, path, e, &obj); !s.ok()) return s;
  if (auto s = CheckNames(ctx, path, obj,
                          {"hub", "devices", "modules", "policies", "id_scope", "registrations"});
      !s.ok()) {
    return s;
  }
  element v;
  if (obj["hub"].get(v) == simdjson::SUCCESS) {
    if (auto s = ParsePattern(ctx, path + ".hub", v, &out->hub); !s.ok()) return s;
  }
  if (obj["id_scope"].get(v) == simdjson::SUCCESS) {
    if (auto s = ParsePattern(ctx, path + ".id_scope", v, &out->id_scope); !s.ok()) return s;
  }
  for (auto [name, list] :
       {std::pair<const char*, std::vector<IdPattern>*>{"devices", &out->devices},
        {"policies", &out->policies},
        {"registrations", &out->registrations}}) {
    if (obj[name].get(v) != simdjson::SUCCESS) continue;
    if (auto s = ParsePatterns(ctx, absl::StrCat(path, ".", name), v, list); !s.ok()) return s;
  }
  if (obj["modules"].get(v) == simdjson::SUCCESS) {
    if (auto s = GetBool(ctx, path + ".modules", v, &out->modules); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// ParseCallers reads the `callers` rules; Authorizer::Create checks what they say together.
absl::Status ParseCallers(const Context& ctx, element e, ServerOptions* server) {
  simdjson::dom::array list;
  if (e.get_array().get(list) != simdjson::SUCCESS) {
    return ctx.Error("callers", "must be an array of caller rules");
  }
  std::vector<CallerRule> rules;
  size_t i = 0;
  for (element item : list) {
    const std::string path = absl::StrCat("callers[", i++, "]");
    object obj;
    if (auto s = GetObject(ctx, path, item, &obj); !s.ok()) return s;
    if (auto s = CheckNames(ctx, path, obj, {"name", "match", "allow", "admin"}); !s.ok()) return s;
    CallerRule rule;
    element v;
    if (obj["name"].get(v) != simdjson::SUCCESS) return ctx.Error(path, "missing \"name\"");
    if (auto s = GetString(ctx, path + ".name", v, &rule.name); !s.ok()) return s;
    if (obj["match"].get(v) != simdjson::SUCCESS) {
      return ctx.Error(path,
                       "missing \"match\": {\"common_name\" | \"san\" | \"spiffe\": \"...\"} or "
                       "{\"anonymous\": true}");
    }
    object match;
    const std::string mp = path + ".match";
    if (auto s = GetObject(ctx, mp, v, &match); !s.ok()) return s;
    if (auto s = CheckNames(ctx, mp, match, {"common_name", "san", "spiffe", "anonymous"});
        !s.ok()) {
      return s;
    }
    if (match.size() != 1) {
      return ctx.Error(mp, "give exactly one of common_name, san, spiffe and anonymous");
    }
    for (auto field : match) {
      const std::string key(field.key);
      if (key == "anonymous") {
        bool anonymous = false;
        if (auto s = GetBool(ctx, mp + ".anonymous", field.value, &anonymous); !s.ok()) return s;
        if (!anonymous) return ctx.Error(mp + ".anonymous", "must be true (or omitted)");
        rule.match = CallerMatch::kAnonymous;
        continue;
      }
      rule.match = key == "common_name" ? CallerMatch::kCommonName
                   : key == "san"       ? CallerMatch::kSan
                                        : CallerMatch::kSpiffe;
      if (auto s = GetString(ctx, absl::StrCat(mp, ".", key), field.value, &rule.match_value);
          !s.ok()) {
        return s;
      }
    }
    if (obj["allow"].get(v) == simdjson::SUCCESS) {
      simdjson::dom::array allow;
      if (v.get_array().get(allow) != simdjson::SUCCESS) {
        return ctx.Error(path + ".allow", "must be an array");
      }
      size_t j = 0;
      for (element a : allow) {
        AllowRule rule_allow;
        if (auto s = ParseAllow(ctx, absl::StrCat(path, ".allow[", j++, "]"), a, &rule_allow);
            !s.ok()) {
          return s;
        }
        rule.allow.push_back(std::move(rule_allow));
      }
    }
    if (obj["admin"].get(v) == simdjson::SUCCESS) {
      if (auto s = GetBool(ctx, path + ".admin", v, &rule.admin); !s.ok()) return s;
    }
    rules.push_back(std::move(rule));
  }
  absl::StatusOr<Authorizer> authorizer = Authorizer::Create(std::move(rules));
  if (!authorizer.ok()) {
    // "callers[i]...: reason": the path is already in the message.
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.source, ": ", authorizer.status().message()));
  }
  server->authorizer = std::make_shared<const Authorizer>(*std::move(authorizer));
  return absl::OkStatus();
}

std::optional<StoredKey> PrepareOptional(const std::optional<SecretBytes>& key) {
  if (!key) return std::nullopt;
  StoredKey stored{HmacKey::FromSecret(*key), {}};
  stored.fingerprint = stored.hmac.Fingerprint();
  return stored;
}

}  // namespace

absl::StatusOr<uint32_t> ParseRight(absl::string_view name) {
  if (name == "DeviceConnect") return kDeviceConnect;
  if (name == "ServiceConnect") return kServiceConnect;
  if (name == "RegistryRead") return kRegistryRead;
  if (name == "RegistryWrite") return kRegistryWrite;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown right \"", name,
                   "\" (DeviceConnect, ServiceConnect, RegistryRead or RegistryWrite)"));
}

absl::StatusOr<ServiceConfig> ParseConfig(absl::string_view text, absl::string_view source,
                                          absl::string_view base_dir) {
  ServiceConfig config;
  const Context ctx{std::string(source), std::string(base_dir), &config.watched_files};
  simdjson::padded_string padded(text.data(), text.size());
  simdjson::dom::parser parser;
  // The parser's string buffer holds inline keys unescaped: wipe it before it is freed.
  const auto wipe_parser = absl::MakeCleanup([&parser] {
    if (parser.doc.string_buf != nullptr) {
      crypto::Cleanse(parser.doc.string_buf.get(),
                      5 * parser.doc.capacity() / 3 + simdjson::SIMDJSON_PADDING);
    }
  });
  element root;
  if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS) {
    crypto::Cleanse(padded.data(), padded.size());
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": malformed JSON: ", simdjson::error_message(err)));
  }
  config.source = std::string(source);
  absl::Status status = [&]() -> absl::Status {
    object obj;
    if (auto s = GetObject(ctx, "(top level)", root, &obj); !s.ok()) return s;
    if (auto s = CheckNames(ctx, "(top level)", obj,
                            {"listen", "hubs", "dps", "limits", "malformed_export_lines", "admin",
                             "rotation", "tls", "health_listen", "callers"});
        !s.ok()) {
      return s;
    }
    element v;
    if (obj["listen"].get(v) == simdjson::SUCCESS) {
      if (auto s = GetString(ctx, "listen", v, &config.server.listen_address); !s.ok()) return s;
    }
    if (obj["malformed_export_lines"].get(v) == simdjson::SUCCESS) {
      std::string mode;
      if (auto s = GetString(ctx, "malformed_export_lines", v, &mode); !s.ok()) return s;
      if (mode != "fail" && mode != "skip") {
        return ctx.Error("malformed_export_lines", "must be \"fail\" or \"skip\"");
      }
      config.export_options.lenient = mode == "skip";
    }
    if (obj["limits"].get(v) == simdjson::SUCCESS) {
      if (auto s = ParseLimits(ctx, v, &config.server); !s.ok()) return s;
    }
    // After limits, whose check covers the whole ServerOptions: an admin address error is
    // reported as admin.listen's.
    if (obj["admin"].get(v) == simdjson::SUCCESS) {
      if (auto s = ParseAdmin(ctx, v, &config); !s.ok()) return s;
      if (auto s = ValidateServerOptions(config.server); !s.ok()) {
        return ctx.Error("admin.listen", s.message());
      }
    }
    if (obj["tls"].get(v) == simdjson::SUCCESS) {
      if (auto s = ParseTls(ctx, v, &config.server.tls); !s.ok()) return s;
    }
    if (obj["health_listen"].get(v) == simdjson::SUCCESS) {
      std::string& listen = config.server.health_listen_address;
      if (auto s = GetString(ctx, "health_listen", v, &listen); !s.ok()) return s;
      if (listen.empty()) return ctx.Error("health_listen", "must not be empty (omit it instead)");
      if (auto s = ValidateServerOptions(config.server); !s.ok()) {
        return ctx.Error("health_listen", s.message());
      }
    }
    if (obj["callers"].get(v) == simdjson::SUCCESS) {
      if (auto s = ParseCallers(ctx, v, &config.server); !s.ok()) return s;
    }
    if (obj["rotation"].get(v) == simdjson::SUCCESS) {
      if (auto s = ParseRotation(ctx, v, &config.admin.retention); !s.ok()) return s;
    }
    if (obj["hubs"].get(v) == simdjson::SUCCESS) {
      simdjson::dom::array hubs;
      if (v.get_array().get(hubs) != simdjson::SUCCESS)
        return ctx.Error("hubs", "must be an array");
      size_t i = 0;
      for (element h : hubs) {
        HubConfig hub;
        if (auto s = ParseHub(ctx, absl::StrCat("hubs[", i++, "]"), h, &hub); !s.ok()) return s;
        for (const HubConfig& other : config.hubs) {
          if (other.host == hub.host) {
            return ctx.Error(absl::StrCat("hubs[", i - 1, "]"),
                             absl::StrCat("hub ", hub.host, " is configured twice"));
          }
        }
        config.hubs.push_back(std::move(hub));
      }
    }
    if (obj["dps"].get(v) == simdjson::SUCCESS) {
      simdjson::dom::array dps;
      if (v.get_array().get(dps) != simdjson::SUCCESS) return ctx.Error("dps", "must be an array");
      size_t i = 0;
      for (element d : dps) {
        DpsConfig entry;
        if (auto s = ParseDps(ctx, absl::StrCat("dps[", i++, "]"), d, &entry); !s.ok()) return s;
        config.dps.push_back(std::move(entry));
      }
    }
    return absl::OkStatus();
  }();
  crypto::Cleanse(padded.data(), padded.size());
  if (!status.ok()) return status;
  for (const HubConfig& hub : config.hubs) {
    config.watched_files.insert(config.watched_files.end(), hub.device_files.begin(),
                                hub.device_files.end());
  }
  return config;
}

absl::StatusOr<ServiceConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read configuration file ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t slash = path.rfind('/');
  auto config = ParseConfig(text, path, slash == std::string::npos ? "" : path.substr(0, slash));
  crypto::Cleanse(text.data(), text.size());
  if (config.ok()) config->watched_files.push_back(path);
  return config;
}

absl::StatusOr<std::shared_ptr<IdentityTable>> BuildIdentityTable(const ServiceConfig& config) {
  auto table = std::make_shared<IdentityTable>();
  for (const HubConfig& hub : config.hubs) {
    if (auto s = table->AddHub(hub.host, hub.settings); !s.ok()) return s;
    for (const PolicyConfig& policy : hub.policies) {
      PolicyEntry entry;
      entry.name = policy.name;
      entry.rights = policy.rights;
      entry.primary = PrepareOptional(policy.keys.primary);
      entry.secondary = PrepareOptional(policy.keys.secondary);
      entry.source = config.source;
      if (auto s = table->AddPolicy(hub.host, std::move(entry)); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(config.source, ": ", s.message()));
      }
    }
    for (const std::string& file : hub.device_files) {
      ExportLoadStats stats;
      if (auto s = LoadExportFile(file, hub.host, table.get(), config.export_options, &stats);
          !s.ok()) {
        return s;
      }
      if (stats.skipped > 0) {
        Log(LogLevel::kWarning, "skipped malformed device export lines",
            {{"file", file},
             {"skipped", absl::StrCat(stats.skipped)},
             {"loaded", absl::StrCat(stats.loaded)},
             {"first", stats.first_errors.front()}});
      }
    }
  }
  for (const DpsConfig& dps : config.dps) {
    for (const DpsGroupConfig& group : dps.groups) {
      DpsGroupEntry entry;
      entry.name = group.name;
      entry.registration_prefix = group.registration_prefix;
      entry.primary = PrepareOptional(group.keys.primary);
      entry.secondary = PrepareOptional(group.keys.secondary);
      entry.source = config.source;
      if (auto s = table->AddDpsGroup(dps.id_scope, std::move(entry)); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(config.source, ": ", s.message()));
      }
    }
  }
  table->Compact();
  return table;
}

}  // namespace sasmint
