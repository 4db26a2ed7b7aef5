// commands.h: the subcommands of the `sasmint` binary (contract: docs/design.md §5).
//
// The synopsis, as `sasmint help` prints it (usage.cc holds the text; usage_test checks this copy):
//
//   usage: sasmint <command> [flags]
//   commands:
//     serve       [--config FILE] [--listen ADDR] [--hub HOST --devices FILE] [--demo]
//                 [--port-file FILE] [--admin-listen ADDR] [--health-listen ADDR]
//                 [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
//                 [--metrics-listen ADDR] [--audit FILE]
//     serve       --check-config FILE
//     token       --hub HOST (--device ID [--module ID] | --policy NAME [--resource PATH])
//                 --key B64 (--expiry UNIX | --ttl S) [--json]
//     token       --id-scope SCOPE --registration ID --key B64 (--expiry UNIX | --ttl S)
//                 [--json]
//     derive-key  --group-key B64 --registration ID
//     mint        --server ADDR (--hub HOST (--device ID [--module ID] | --policy NAME
//                 [--resource PATH]) | --id-scope SCOPE --registration ID) [--ttl S]
//                 [--key-slot primary|secondary] [--timeout S] [--json]
//                 [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]
//     verify      TOKEN (--key B64 [--secondary-key B64] | --server ADDR) [--hub HOST]
//                 [--device ID [--module ID]] [--right R] [--now UNIX] [--max-lifetime S]
//                 [--timeout S] [--json]      (TOKEN '-' reads it from stdin)
//     verify      --cert FILE --hub HOST --device ID [--module ID] (--server ADDR |
//                 --primary-thumbprint X [--secondary-thumbprint Y]) [--now UNIX] [--json]
//                 exit 0: IoT Hub would accept; 1: it would reject; 2: usage or I/O error
//                 (--server takes mint's --tls-* flags)
//     health      --server ADDR [--service NAME] [--timeout S] [mint's --tls-* flags]
//                 prints SERVING or NOT_SERVING; exit 0 only when SERVING
//     audit       verify FILE [--json]   the audit log's hash chain and sequence
//                 exit 0: intact; 1: names the first bad line; 2: usage or I/O error
//
// Each Run* function takes the arguments after the subcommand and returns the process exit
// code: 0 success, 1 a runtime failure (server unreachable, RPC error, load failure), 2 bad
// usage or input. `verify` differs: 0 IoT Hub would accept, 1 it would reject, 2 usage, I/O or
// RPC errors (no verdict). Output goes to stdout; errors are one line on stderr. Each command
// lives in its own file (token_command.cc, ...).
#ifndef SASMINT_SERVICE_CLI_COMMANDS_H_
#define SASMINT_SERVICE_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace sasmint::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int RunToken(const std::vector<std::string>& args);
int RunDeriveKey(const std::vector<std::string>& args);
int RunMint(const std::vector<std::string>& args);
int RunVerify(const std::vector<std::string>& args);
int RunHealth(const std::vector<std::string>& args);
int RunAudit(const std::vector<std::string>& args);
// RunServe blocks SIGINT and SIGTERM before starting any thread, serves until one arrives, then
// shuts down gracefully and returns 0.
int RunServe(const std::vector<std::string>& args);

// Main dispatches argv to a subcommand.
int Main(int argc, char** argv);

}  // namespace sasmint::cli

#endif  // SASMINT_SERVICE_CLI_COMMANDS_H_
