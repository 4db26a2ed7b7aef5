# sasmint_cc_library / sasmint_cc_test / sasmint_cc_binary: keep every target uniform.
# Warnings are errors on our own targets only, never on third-party headers.
set(SASMINT_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter -Wnon-virtual-dtor)
# A local that hides another local is a bug waiting to happen; GCC names exactly that check.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND SASMINT_WARNINGS -Wshadow=local)
endif()
# GCC 12 at -O3 (CMAKE_BUILD_TYPE=Release) reports -Wrestrict inside libstdc++'s own
# std::string::insert/replace (GCC bug 105329), a false positive in code we do not own: keep it a
# warning there so a Release build does not fail on it.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND SASMINT_WARNINGS -Wno-error=restrict)
endif()

function(sasmint_cc_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;COPTS" ${ARGN})
  add_library(${name} ${A_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${SASMINT_WARNINGS} ${A_COPTS})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  set_property(GLOBAL APPEND PROPERTY SASMINT_TARGETS ${name})  # for tests/layering
endfunction()

function(sasmint_cc_binary name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;COPTS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${SASMINT_WARNINGS} ${A_COPTS})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  set_property(GLOBAL APPEND PROPERTY SASMINT_TARGETS ${name})
endfunction()

# Tests run with the working directory set to tests/ so that testdata/ paths resolve; each test
# also gets SASMINT_TESTDATA in its environment.
function(sasmint_cc_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${SASMINT_WARNINGS})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${A_TIMEOUT}
    LABELS "${A_LABELS}"
    ENVIRONMENT "SASMINT_TESTDATA=${PROJECT_SOURCE_DIR}/tests/testdata;${A_ENV}")
endfunction()
