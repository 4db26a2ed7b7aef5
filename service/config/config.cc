#include "service/config/config.h"

#include <fstream>
#include <iterator>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "service/authz/caller_rules.h"
#include "service/config/internal/sections.h"
#include "signer/crypto_backend.h"
#include "simdjson.h"

namespace sasmint {
namespace {

using internal::ConfigReader;

// ParseTopLevel reads every section of the document `root` into `config`.
absl::Status ParseTopLevel(const ConfigReader& reader, JsonElement root, ServiceConfig* config) {
  const JsonReader& json = reader.json;
  JsonObject obj;
  RETURN_IF_ERROR(json.Object("(top level)", root, &obj));
  RETURN_IF_ERROR(
      json.CheckNames("(top level)", obj,
                      {"listen", "hubs", "dps", "limits", "malformed_export_lines", "admin",
                       "rotation", "tls", "health_listen", "callers", "metrics_listen", "audit"}));
  ServerOptions& server = config->server;
  JsonElement v;
  if (JsonReader::Find(obj, "listen", &v)) {
    RETURN_IF_ERROR(json.String("listen", v, &server.listen_address));
  }
  if (JsonReader::Find(obj, "malformed_export_lines", &v)) {
    std::string mode;
    RETURN_IF_ERROR(json.String("malformed_export_lines", v, &mode));
    if (mode != "fail" && mode != "skip") {
      return json.Error("malformed_export_lines", "must be \"fail\" or \"skip\"");
    }
    config->export_options.lenient = mode == "skip";
  }
  if (JsonReader::Find(obj, "limits", &v)) RETURN_IF_ERROR(internal::ParseLimits(json, v, &server));
  // After limits, whose check covers the whole ServerOptions: an admin address error is
  // reported as admin.listen's.
  if (JsonReader::Find(obj, "admin", &v)) {
    RETURN_IF_ERROR(internal::ParseAdmin(json, v, config));
    if (auto s = ValidateServerOptions(server); !s.ok()) {
      return json.Error("admin.listen", s.message());
    }
  }
  if (JsonReader::Find(obj, "tls", &v)) RETURN_IF_ERROR(internal::ParseTls(json, v, &server.tls));
  if (JsonReader::Find(obj, "health_listen", &v)) {
    std::string& listen = server.health_listen_address;
    RETURN_IF_ERROR(json.String("health_listen", v, &listen));
    if (listen.empty()) return json.Error("health_listen", "must not be empty (omit it instead)");
    if (auto s = ValidateServerOptions(server); !s.ok()) {
      return json.Error("health_listen", s.message());
    }
  }
  if (JsonReader::Find(obj, "metrics_listen", &v)) {
    std::string& listen = server.metrics_listen_address;
    RETURN_IF_ERROR(json.String("metrics_listen", v, &listen));
    if (listen.empty()) return json.Error("metrics_listen", "must not be empty (omit it instead)");
    if (auto s = ValidateServerOptions(server); !s.ok()) {
      return json.Error("metrics_listen", s.message());
    }
  }
  if (JsonReader::Find(obj, "audit", &v)) {
    AuditOptions audit;
    RETURN_IF_ERROR(internal::ParseAudit(json, v, &audit));
    server.audit = std::move(audit);
  }
  if (JsonReader::Find(obj, "callers", &v)) {
    ASSIGN_OR_RETURN(Authorizer authorizer, ParseCallerRules(json, v));
    server.authorizer = std::make_shared<const Authorizer>(std::move(authorizer));
  }
  if (JsonReader::Find(obj, "rotation", &v)) {
    RETURN_IF_ERROR(internal::ParseRotation(json, v, &config->admin.retention));
  }
  if (JsonReader::Find(obj, "hubs", &v)) RETURN_IF_ERROR(internal::ParseHubs(reader, v, config));
  if (JsonReader::Find(obj, "dps", &v))
    RETURN_IF_ERROR(internal::ParseDpsScopes(reader, v, config));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServiceConfig> ParseConfig(absl::string_view text, absl::string_view source,
                                          absl::string_view base_dir) {
  ServiceConfig config;
  const ConfigReader reader{JsonReader(std::string(source), std::string(base_dir)),
                            &config.watched_files};
  simdjson::padded_string padded(text.data(), text.size());
  simdjson::dom::parser parser;
  // The parser's string buffer holds inline keys unescaped: wipe it before it is freed.
  const auto wipe_parser = absl::MakeCleanup([&parser] {
    if (parser.doc.string_buf != nullptr) {
      crypto::Cleanse(parser.doc.string_buf.get(),
                      5 * parser.doc.capacity() / 3 + simdjson::SIMDJSON_PADDING);
    }
  });
  const auto wipe_text =
      absl::MakeCleanup([&padded] { crypto::Cleanse(padded.data(), padded.size()); });
  JsonElement root;
  if (auto err = parser.parse(padded).get(root); err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": malformed JSON: ", simdjson::error_message(err)));
  }
  config.source = std::string(source);
  RETURN_IF_ERROR(ParseTopLevel(reader, root, &config));
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

}  // namespace sasmint
