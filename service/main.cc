// The `sasmint` binary: see service/cli/commands.h for its subcommands.
#include "service/cli/commands.h"

int main(int argc, char** argv) { return sasmint::cli::Main(argc, argv); }
