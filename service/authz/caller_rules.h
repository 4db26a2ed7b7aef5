// caller_rules.h: the configuration's `callers` section, read into an Authorizer.
//
//   "callers": [
//     {"name": "gateway-eu", "match": {"common_name": "gw-eu-1"},   // or san, spiffe
//      "allow": [{"hub": "eu.azure-devices.net", "devices": ["eu-*"], "modules": true},
//                {"hub": "eu.azure-devices.net", "policies": ["device-svc"]},
//                {"id_scope": "0ne000A1B2C", "registrations": ["eu-*"]}]},
//     {"name": "ops", "match": {"common_name": "ops"}, "admin": true},
//     {"name": "local", "match": {"anonymous": true}, "allow": [...]}]
//
// IDs in allow lists are exact, `prefix*` or `*` (IdPattern). Thread-safe (no state).
#ifndef SASMINT_SERVICE_AUTHZ_CALLER_RULES_H_
#define SASMINT_SERVICE_AUTHZ_CALLER_RULES_H_

#include "absl/status/statusor.h"
#include "common/json_reader.h"
#include "service/authz/authorizer.h"

namespace sasmint {

// ParseCallerRules reads the `callers` value `callers` of the document `json` reads and returns
// the enabled Authorizer. INVALID_ARGUMENT "source: callers[i]...: reason" for unknown names,
// wrong types, bad patterns, or rules Authorizer::Create refuses.
absl::StatusOr<Authorizer> ParseCallerRules(const JsonReader& json, JsonElement callers);

}  // namespace sasmint

#endif  // SASMINT_SERVICE_AUTHZ_CALLER_RULES_H_
