# selftest.cmake: check_layers.cmake must find every violation planted in testdata/ (and only
# those), so that a layering test that passes means something. sasmint_keystore_helper links
# protobuf, so it and every target linked above it (keystore, mint, server options, config) are
# each reported.
#   cmake -DCHECKER=<check_layers.cmake> -DTESTDATA=<testdata dir> -P selftest.cmake
execute_process(
  COMMAND ${CMAKE_COMMAND} -DTARGETS=${TESTDATA}/bad_targets.txt -DSOURCE_DIR=${TESTDATA}/tree
          -P ${CHECKER}
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(result EQUAL 0)
  message(FATAL_ERROR "check_layers passed a tree with violations:\n${all}")
endif()
set(expected
  "sasmint_keystore \\(service/keystore\\) links sasmint_mint \\(service/mint\\)"
  "sasmint_mint \\(service/mint\\) links protobuf::libprotobuf \\(through sasmint_keystore_helper\\)"
  "sasmint_rpc \\(service/rpc\\) links sasmint_config \\(service/config\\)"
  "sasmint_client \\(client\\) links sasmint_rpc"
  "service/mint/leaky.cc includes grpcpp/grpcpp.h"
  "service/mint/leaky.cc \\(service/mint\\) includes service/rpc/token_service.h"
  "service/keystore/upward.cc includes sasmint/v1/sasmint.pb.h"
  "service/keystore/upward.cc \\(service/keystore\\) includes service/mint/minter.h"
  "sasmint_config \\(service/config\\) links protobuf::libprotobuf"
  "layering: 12 violations")
foreach(pattern ${expected})
  if(NOT all MATCHES "${pattern}")
    message(FATAL_ERROR "check_layers did not report /${pattern}/:\n${all}")
  endif()
endforeach()
foreach(allowed "sasmint_rpc \\(service/rpc\\) links sasmint_server_options" "fine.cc"
        "sasmint_server_options \\(service/config\\) links sasmint_mint")
  if(all MATCHES "${allowed}")
    message(FATAL_ERROR "check_layers refused what the rules allow (/${allowed}/):\n${all}")
  endif()
endforeach()
message("selftest: check_layers found the 12 planted violations and nothing else")
