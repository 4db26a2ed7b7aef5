# check_layers.cmake: fails if a library or binary of the project depends against the layers.
#
#   cmake -DTARGETS=<targets.txt> -DSOURCE_DIR=<tree> -P check_layers.cmake
#
# TARGETS lists one target per line, "name|folder|direct link libraries" (tests/layering's
# CMakeLists.txt generates it from the build). Two checks:
#   1. Links: a target may link only rooms below its own (or its own room, or the exceptions
#      below), and no target outside rpc/, cli/, client/, bench/ and proto/ may reach gRPC or
#      protobuf through any chain of links.
#   2. Includes: every #include "x/y/..." of the sources under SOURCE_DIR obeys the same room
#      order, and no gRPC-free room includes grpc/grpcpp headers or generated .pb.h files.
# Every violation is printed; the script fails once all are listed.
cmake_minimum_required(VERSION 3.25)

# Rooms, lowest first: "folder rank". A room may depend on rooms of lower rank; rooms of equal
# rank are independent of each other. client/ and bench/ stand beside the service (their own
# allow lists below); cli/ may use client/ (its mint and verify --server are clients).
set(ROOMS
  "common 0" "signer 1" "service/keystore 2" "service/authz 2"
  "service/mint 3" "service/verify 3" "service/admin 3" "service/metrics 3" "service/audit 3"
  "service/config 4" "service/etcd 4" "service/rpc 4" "service/cli 5")
# Rooms that may see gRPC and protobuf.
set(GRPC_ROOMS service/rpc service/etcd service/cli client bench proto tests)
# What client/ and bench/ may use of the rooms (besides themselves, proto and common).
set(CLIENT_ALLOWED common signer)
set(BENCH_ALLOWED common signer service/keystore service/authz service/mint client)
# Exceptions to the order: "room -> target or header": rpc/ reads the server options that the
# configuration fills (plain data, no gRPC), not the configuration itself.
set(LINK_EXCEPTIONS "service/rpc>sasmint_server_options")
set(INCLUDE_EXCEPTIONS "service/rpc>service/config/server_options.h")

set(failures 0)
macro(violation text)
  message("layering: ${text}")
  math(EXPR failures "${failures} + 1")
endmacro()

# RoomOf sets `out` to the room of a folder or path (longest matching prefix), or "".
function(room_of path out)
  set(best "")
  foreach(entry ${ROOMS} "client 9" "bench 9" "proto 9" "tests 9")
    string(REPLACE " " ";" parts "${entry}")
    list(GET parts 0 folder)
    if(path STREQUAL folder OR path MATCHES "^${folder}/")
      string(LENGTH "${folder}" n)
      string(LENGTH "${best}" m)
      if(n GREATER m)
        set(best "${folder}")
      endif()
    endif()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

function(rank_of room out)
  set(r "")
  foreach(entry ${ROOMS})
    string(REPLACE " " ";" parts "${entry}")
    list(GET parts 0 folder)
    list(GET parts 1 rank)
    if(room STREQUAL folder)
      set(r ${rank})
    endif()
  endforeach()
  set(${out} "${r}" PARENT_SCOPE)
endfunction()

# allowed(from, to, out): whether room `from` may depend on room `to`.
function(allowed from to out)
  set(ok FALSE)
  if(from STREQUAL to OR to STREQUAL "common")
    set(ok TRUE)
  elseif(from STREQUAL "tests")
    set(ok TRUE)
  elseif(from STREQUAL "service/cli" AND to STREQUAL "client")
    set(ok TRUE)  # mint and verify --server are gRPC clients
  elseif(from STREQUAL "client")
    if(to IN_LIST CLIENT_ALLOWED OR to STREQUAL "proto")
      set(ok TRUE)
    endif()
  elseif(from STREQUAL "bench")
    if(to IN_LIST BENCH_ALLOWED OR to STREQUAL "proto")
      set(ok TRUE)
    endif()
  elseif(from STREQUAL "proto")
    set(ok FALSE)
  else()
    rank_of("${from}" rf)
    rank_of("${to}" rt)
    if(to STREQUAL "proto")
      if(from IN_LIST GRPC_ROOMS)
        set(ok TRUE)
      endif()
    elseif(NOT rt STREQUAL "" AND NOT rf STREQUAL "" AND rt LESS rf)
      set(ok TRUE)
    endif()
  endif()
  set(${out} ${ok} PARENT_SCOPE)
endfunction()

function(is_grpc_library lib out)
  if(lib MATCHES "^(gRPC::|protobuf::|grpc|gpr|libprotobuf)" OR lib MATCHES "^sasmint_(health_)?proto$")
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# --- 1. Links ------------------------------------------------------------------------------------
file(STRINGS "${TARGETS}" lines)
set(names "")
foreach(line ${lines})
  string(REPLACE "|" ";" fields "${line}")
  list(GET fields 0 name)
  list(GET fields 1 folder)
  list(LENGTH fields n)
  set(deps "")
  if(n GREATER 2)
    list(SUBLIST fields 2 -1 deps)
  endif()
  string(REPLACE "," ";" deps "${deps}")
  list(APPEND names ${name})
  room_of("${folder}" room)
  set(ROOM_${name} "${room}")
  set(DEPS_${name} "${deps}")
endforeach()

foreach(name ${names})
  set(room "${ROOM_${name}}")
  foreach(dep ${DEPS_${name}})
    if(NOT dep IN_LIST names)
      continue()
    endif()
    set(dep_room "${ROOM_${dep}}")
    allowed("${room}" "${dep_room}" ok)
    if(NOT ok AND NOT "${room}>${dep}" IN_LIST LINK_EXCEPTIONS)
      violation("${name} (${room}) links ${dep} (${dep_room}), which is not below it")
    endif()
  endforeach()
  if(room IN_LIST GRPC_ROOMS)
    continue()
  endif()
  # Every chain of links from a gRPC-free room, breadth first.
  set(seen "")
  set(queue ${name})
  while(queue)
    list(POP_FRONT queue current)
    foreach(dep ${DEPS_${current}})
      if(dep IN_LIST seen)
        continue()
      endif()
      list(APPEND seen ${dep})
      is_grpc_library("${dep}" grpc)
      if(grpc)
        violation("${name} (${room}) links ${dep} (through ${current}); only rpc/ and cli/ may")
      elseif(dep IN_LIST names)
        list(APPEND queue ${dep})
      endif()
    endforeach()
  endwhile()
endforeach()

# --- 2. Includes ---------------------------------------------------------------------------------
file(GLOB_RECURSE sources RELATIVE "${SOURCE_DIR}"
  "${SOURCE_DIR}/common/*.h" "${SOURCE_DIR}/common/*.cc"
  "${SOURCE_DIR}/signer/*.h" "${SOURCE_DIR}/signer/*.cc"
  "${SOURCE_DIR}/service/*.h" "${SOURCE_DIR}/service/*.cc"
  "${SOURCE_DIR}/client/*.h" "${SOURCE_DIR}/client/*.cc"
  "${SOURCE_DIR}/bench/*.h" "${SOURCE_DIR}/bench/*.cc")
foreach(source ${sources})
  room_of("${source}" room)
  file(STRINGS "${SOURCE_DIR}/${source}" includes REGEX "^#include [<\"]")
  foreach(include ${includes})
    string(REGEX REPLACE "^#include [<\"]([^>\"]+)[>\"].*$" "\\1" header "${include}")
    if(NOT room IN_LIST GRPC_ROOMS)
      if(header MATCHES "^(grpc|grpcpp|google/protobuf)/" OR header MATCHES "\\.pb\\.h$")
        violation("${source} includes ${header}: only rpc/ and cli/ see gRPC or protobuf")
        continue()
      endif()
    endif()
    if(header MATCHES "^sasmint/v1/")
      set(header_room proto)
    else()
      room_of("${header}" header_room)
    endif()
    if(header_room STREQUAL "")
      continue()  # a system or third-party header
    endif()
    allowed("${room}" "${header_room}" ok)
    if(NOT ok AND NOT "${room}>${header}" IN_LIST INCLUDE_EXCEPTIONS)
      violation("${source} (${room}) includes ${header} (${header_room}), which is not below it")
    endif()
  endforeach()
endforeach()

list(LENGTH names target_count)
list(LENGTH sources source_count)
if(failures GREATER 0)
  message(FATAL_ERROR "layering: ${failures} violations")
endif()
message("layering: OK (${target_count} targets, ${source_count} sources)")
