#include "service/cli/usage.h"

namespace sasmint::cli {

absl::string_view Usage() {
  return "usage: sasmint <command> [flags]\n"
         "commands:\n"
         "  serve       [--config FILE] [--listen ADDR] [--hub HOST --devices FILE] [--demo]\n"
         "              [--port-file FILE] [--admin-listen ADDR] [--health-listen ADDR]\n"
         "              [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]\n"
         "              [--metrics-listen ADDR] [--audit FILE]\n"
         "  serve       --check-config FILE\n"
         "  token       --hub HOST (--device ID [--module ID] | --policy NAME [--resource PATH])\n"
         "              --key B64 (--expiry UNIX | --ttl S) [--json]\n"
         "  token       --id-scope SCOPE --registration ID --key B64 (--expiry UNIX | --ttl S)\n"
         "              [--json]\n"
         "  derive-key  --group-key B64 --registration ID\n"
         "  mint        --server ADDR (--hub HOST (--device ID [--module ID] | --policy NAME\n"
         "              [--resource PATH]) | --id-scope SCOPE --registration ID) [--ttl S]\n"
         "              [--key-slot primary|secondary] [--timeout S] [--json]\n"
         "              [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]\n"
         "  verify      TOKEN (--key B64 [--secondary-key B64] | --server ADDR) [--hub HOST]\n"
         "              [--device ID [--module ID]] [--right R] [--now UNIX] [--max-lifetime S]\n"
         "              [--timeout S] [--json]      (TOKEN '-' reads it from stdin)\n"
         "  verify      --cert FILE --hub HOST --device ID [--module ID] (--server ADDR |\n"
         "              --primary-thumbprint X [--secondary-thumbprint Y]) [--now UNIX] [--json]\n"
         "              exit 0: IoT Hub would accept; 1: it would reject; 2: usage or I/O error\n"
         "              (--server takes mint's --tls-* flags)\n"
         "  health      --server ADDR [--service NAME] [--timeout S] [mint's --tls-* flags]\n"
         "              prints SERVING or NOT_SERVING; exit 0 only when SERVING\n"
         "  audit       verify FILE [--json]   the audit log's hash chain and sequence\n"
         "              exit 0: intact; 1: names the first bad line; 2: usage or I/O error\n";
}

}  // namespace sasmint::cli
