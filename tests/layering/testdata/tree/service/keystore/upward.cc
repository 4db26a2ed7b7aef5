// A key store file that includes the room above it and a generated protobuf header.
#include "sasmint/v1/sasmint.pb.h"
#include "service/mint/minter.h"
