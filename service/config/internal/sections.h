// sections.h: one parser per section of the configuration file (internal to config.cc).
//
// Each reads its section into the ServiceConfig being built, with the document's JsonReader for
// checked reads and "source: path: reason" errors. Key sections record the key files they read
// in `watched_files` (what hot reload watches).
#ifndef SASMINT_SERVICE_CONFIG_INTERNAL_SECTIONS_H_
#define SASMINT_SERVICE_CONFIG_INTERNAL_SECTIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/json_reader.h"
#include "service/config/config.h"

namespace sasmint::internal {

// ConfigReader is the document being read, and the key files read so far.
struct ConfigReader {
  JsonReader json;
  std::vector<std::string>* watched_files = nullptr;
};

// Key sources (key_sections.cc).
absl::Status ParseHubs(const ConfigReader& reader, JsonElement value, ServiceConfig* config);
absl::Status ParseDpsScopes(const ConfigReader& reader, JsonElement value, ServiceConfig* config);

// Server sections (server_sections.cc). ParseLimits and the listener sections check the whole
// ServerOptions they leave, naming the section in the error.
absl::Status ParseLimits(const JsonReader& json, JsonElement value, ServerOptions* server);
absl::Status ParseTls(const JsonReader& json, JsonElement value, TlsOptions* out);
absl::Status ParseAdmin(const JsonReader& json, JsonElement value, ServiceConfig* config);
absl::Status ParseRotation(const JsonReader& json, JsonElement value, RetentionOptions* out);
absl::Status ParseAudit(const JsonReader& json, JsonElement value, AuditOptions* out);

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_CONFIG_INTERNAL_SECTIONS_H_
