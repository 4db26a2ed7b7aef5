// The server's sections of the configuration: `limits`, `tls`, `admin` and `rotation`.
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "service/config/internal/sections.h"

namespace sasmint::internal {

absl::Status ParseLimits(const JsonReader& json, JsonElement value, ServerOptions* server) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object("limits", value, &obj));
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
  RETURN_IF_ERROR(json.CheckNames("limits", obj, names));
  JsonElement v;
  for (const IntOption& o : ints) {
    if (!JsonReader::Find(obj, o.name, &v)) continue;
    int64_t n = 0;
    RETURN_IF_ERROR(json.Int(absl::StrCat("limits.", o.name), v, o.min, o.max, &n));
    o.set(n);
  }
  if (JsonReader::Find(obj, "renew_window_start", &v)) {
    RETURN_IF_ERROR(json.Double("limits.renew_window_start", v, &m.renew_window_start));
  }
  if (JsonReader::Find(obj, "renew_window_end", &v)) {
    RETURN_IF_ERROR(json.Double("limits.renew_window_end", v, &m.renew_window_end));
  }
  if (auto s = ValidateServerOptions(*server); !s.ok()) return json.Error("limits", s.message());
  return absl::OkStatus();
}

absl::Status ParseTls(const JsonReader& json, JsonElement value, TlsOptions* out) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object("tls", value, &obj));
  RETURN_IF_ERROR(json.CheckNames("tls", obj,
                                  {"cert_file", "key_file", "client_ca_file", "require_client_cert",
                                   "reload_interval_seconds"}));
  JsonElement v;
  for (auto [name, field] : {std::pair<const char*, std::string*>{"cert_file", &out->cert_file},
                             {"key_file", &out->key_file},
                             {"client_ca_file", &out->client_ca_file}}) {
    if (!JsonReader::Find(obj, name, &v)) continue;
    const std::string path = absl::StrCat("tls.", name);
    std::string file;
    RETURN_IF_ERROR(json.String(path, v, &file));
    if (file.empty()) return json.Error(path, "must not be empty (omit it instead)");
    *field = json.ResolvePath(file);
  }
  if (JsonReader::Find(obj, "require_client_cert", &v)) {
    bool require = false;
    RETURN_IF_ERROR(json.Bool("tls.require_client_cert", v, &require));
    out->require_client_cert = require;
  }
  if (JsonReader::Find(obj, "reload_interval_seconds", &v)) {
    int64_t seconds = 0;
    RETURN_IF_ERROR(json.Int("tls.reload_interval_seconds", v, 0, 86400, &seconds));
    out->reload_interval_seconds = static_cast<int>(seconds);
  }
  if (auto s = ValidateTlsOptions(*out); !s.ok()) {
    return json.Error("tls", absl::StripPrefix(s.message(), "tls: "));
  }
  return absl::OkStatus();
}

absl::Status ParseAudit(const JsonReader& json, JsonElement value, AuditOptions* out) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object("audit", value, &obj));
  RETURN_IF_ERROR(json.CheckNames(
      "audit", obj, {"path", "required", "queue_records", "list_ids", "stream_interval_seconds"}));
  JsonElement v;
  if (!JsonReader::Find(obj, "path", &v)) {
    return json.Error("audit.path", "is required (a file, or \"-\" for stdout)");
  }
  std::string path;
  RETURN_IF_ERROR(json.String("audit.path", v, &path));
  if (path.empty()) return json.Error("audit.path", "must not be empty");
  out->path = path == "-" ? path : json.ResolvePath(path);
  if (JsonReader::Find(obj, "required", &v)) {
    RETURN_IF_ERROR(json.Bool("audit.required", v, &out->required));
  }
  int64_t n = 0;
  if (JsonReader::Find(obj, "queue_records", &v)) {
    RETURN_IF_ERROR(json.Int("audit.queue_records", v, 1, 1 << 24, &n));
    out->queue_records = static_cast<size_t>(n);
  }
  if (JsonReader::Find(obj, "list_ids", &v)) {
    RETURN_IF_ERROR(json.Int("audit.list_ids", v, 0, 100000, &n));
    out->list_ids = static_cast<size_t>(n);
  }
  if (JsonReader::Find(obj, "stream_interval_seconds", &v)) {
    double seconds = 0;
    RETURN_IF_ERROR(json.Double("audit.stream_interval_seconds", v, &seconds));
    if (!(seconds >= 0 && seconds <= 3600)) {
      return json.Error("audit.stream_interval_seconds", "must be between 0 and 3600");
    }
    out->stream_interval = absl::Seconds(seconds);
  }
  return absl::OkStatus();
}

absl::Status ParseAdmin(const JsonReader& json, JsonElement value, ServiceConfig* config) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object("admin", value, &obj));
  RETURN_IF_ERROR(json.CheckNames(
      "admin", obj, {"enabled", "listen", "authoritative", "max_entries_per_request"}));
  JsonElement v;
  if (JsonReader::Find(obj, "enabled", &v)) {
    RETURN_IF_ERROR(json.Bool("admin.enabled", v, &config->server.key_admin_enabled));
  }
  if (JsonReader::Find(obj, "listen", &v)) {
    std::string& listen = config->server.admin_listen_address;
    RETURN_IF_ERROR(json.String("admin.listen", v, &listen));
    if (listen.empty()) return json.Error("admin.listen", "must not be empty (omit it instead)");
  }
  if (JsonReader::Find(obj, "authoritative", &v)) {
    RETURN_IF_ERROR(json.Bool("admin.authoritative", v, &config->admin.authoritative));
  }
  if (JsonReader::Find(obj, "max_entries_per_request", &v)) {
    int64_t n = 0;
    RETURN_IF_ERROR(json.Int("admin.max_entries_per_request", v, 1, 1000000, &n));
    config->admin.max_entries_per_request = static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ParseRotation(const JsonReader& json, JsonElement value, RetentionOptions* out) {
  JsonObject obj;
  RETURN_IF_ERROR(json.Object("rotation", value, &obj));
  RETURN_IF_ERROR(json.CheckNames("rotation", obj, {"retired_keep_seconds", "retired_keep_count"}));
  JsonElement v;
  int64_t n = 0;
  if (JsonReader::Find(obj, "retired_keep_seconds", &v)) {
    RETURN_IF_ERROR(json.Int("rotation.retired_keep_seconds", v, 0, 366 * 86400, &n));
    out->keep_seconds = n;
  }
  if (JsonReader::Find(obj, "retired_keep_count", &v)) {
    RETURN_IF_ERROR(json.Int("rotation.retired_keep_count", v, 0, 100, &n));
    out->keep_count = static_cast<uint32_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace sasmint::internal
