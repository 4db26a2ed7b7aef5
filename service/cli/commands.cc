#include "service/cli/commands.h"

#include <iostream>

#include "service/cli/usage.h"

namespace sasmint::cli {

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << Usage();
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "token") return RunToken(args);
  if (command == "derive-key") return RunDeriveKey(args);
  if (command == "mint") return RunMint(args);
  if (command == "health") return RunHealth(args);
  if (command == "audit") return RunAudit(args);
  if (command == "verify") return RunVerify(args);
  if (command == "serve") return RunServe(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << Usage();
    return kExitOk;
  }
  std::cerr << "sasmint: unknown command '" << command
            << "' (commands: serve, token, derive-key, mint, verify, health, audit; 'sasmint help' "
               "for flags)\n";
  return kExitUsage;
}

}  // namespace sasmint::cli
