// usage.h: the `sasmint` synopsis, printed by `sasmint help` / `--help` and on bad usage.
//
// The one copy of the usage text. README.md's "Command line" block and the synopsis comment in
// commands.h quote it; tests/service/cli/usage_test.cc fails when either differs.
#ifndef SASMINT_SERVICE_CLI_USAGE_H_
#define SASMINT_SERVICE_CLI_USAGE_H_

#include "absl/strings/string_view.h"

namespace sasmint::cli {

// Usage returns the synopsis: "usage: sasmint <command> [flags]", then one entry per command.
absl::string_view Usage();

}  // namespace sasmint::cli

#endif  // SASMINT_SERVICE_CLI_USAGE_H_
