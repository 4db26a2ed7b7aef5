// sasmint audit verify: checks an audit log's hash chain and sequence (audit_chain.h) and names
// the first bad line.
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "service/audit/audit_chain.h"
#include "service/cli/commands.h"
#include "service/cli/internal/command_flags.h"

namespace sasmint::cli {

using internal::Fail;
using internal::FailStatus;

int RunAudit(const std::vector<std::string>& args) {
  constexpr absl::string_view kCmd = "audit";
  if (args.empty() || args[0] != "verify") {
    return Fail(kCmd, kExitUsage, "usage: sasmint audit verify FILE [--json]");
  }
  auto flags = Flags::Parse(std::vector<std::string>(args.begin() + 1, args.end()), {}, {"json"});
  if (!flags.ok()) return FailStatus(kCmd, kExitUsage, flags.status());
  if (flags->positional().size() != 1) {
    return Fail(kCmd, kExitUsage, "usage: sasmint audit verify FILE [--json] ('-' reads stdin)");
  }
  const std::string& path = flags->positional()[0];
  ChainReport report;
  if (path == "-") {
    report = VerifyAuditChain(std::cin);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Fail(kCmd, kExitUsage, absl::StrCat("cannot read ", path));
    report = VerifyAuditChain(in);
    if (in.bad()) return Fail(kCmd, kExitUsage, absl::StrCat("error reading ", path));
  }
  if (flags->Has("json")) {
    std::cout << "{\"intact\":" << (report.intact ? "true" : "false")
              << ",\"lines\":" << report.lines << ",\"boots\":" << report.boots
              << ",\"lost\":" << report.lost;
    if (!report.intact) {
      std::cout << ",\"bad_line\":" << report.bad_line
                << ",\"reason\":" << JsonString(report.reason);
    } else {
      std::cout << ",\"first_seq\":" << report.first_seq
                << ",\"first_prev\":" << JsonString(report.first_prev)
                << ",\"last_hash\":" << JsonString(report.last_hash);
    }
    std::cout << "}" << std::endl;
  } else if (report.intact) {
    std::cout << path << ": intact: " << report.lines << " records, " << report.boots << " boots, "
              << report.lost << " records reported lost";
    if (report.lines > 0) {
      std::cout << "; chain head " << report.last_hash;
      if (report.first_seq != 1) {
        std::cout << " (starts at seq " << report.first_seq << ", prev " << report.first_prev
                  << ": a rotated file)";
      }
    }
    std::cout << std::endl;
  } else {
    std::cout << path << ":" << report.bad_line << ": " << report.reason << std::endl;
  }
  return report.intact ? kExitOk : kExitFailure;
}

}  // namespace sasmint::cli
