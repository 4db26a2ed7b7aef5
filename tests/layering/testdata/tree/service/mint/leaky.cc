// A mint room file that reaches gRPC and the rpc room (check_layers.cmake must refuse both).
#include <grpcpp/grpcpp.h>

#include "service/rpc/token_service.h"
