// An rpc file within the rules: gRPC, the rooms below, the server options exception.
#include <grpcpp/grpcpp.h>

#include "service/config/server_options.h"
#include "service/mint/minter.h"
