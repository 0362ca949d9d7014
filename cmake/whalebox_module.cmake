# whalebox_module(<folder> [DEPS targets...])
# Defines the library target whalebox_<folder> from the folder's *.cc files (main.cc excepted).
# Headers sit beside sources and are included from the source root: #include "dsml/parser.h".
function(whalebox_module folder)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER sources EXCLUDE REGEX "/main\\.cc$")
  set(target whalebox_${folder})
  if(sources)
    add_library(${target} STATIC ${sources})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# whalebox_test(<name> SOURCES files... [LIBS targets...] [LABELS labels...])
# One GoogleTest executable; every TEST becomes its own ctest entry so `ctest -j` spreads them.
function(whalebox_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    WHALEBOX_SHARED_DIR="${WHALEBOX_SHARED_DIR}"
    WHALEBOX_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    WHALEBOX_BINARY="$<TARGET_FILE:whalebox>")
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
endfunction()

# whalebox_unsanitized(<target>)
# Builds a program without WHALEBOX_SANITIZE's instrumentation: the static sandbox init (a static
# binary cannot link the sanitizer runtimes) and the hostile workloads that run inside sandboxes
# (LeakSanitizer needs ptrace, which the sandbox's seccomp policy denies). The runtime that talks
# to them stays instrumented.
function(whalebox_unsanitized target)
  if(WHALEBOX_SANITIZE)
    target_compile_options(${target} PRIVATE -fno-sanitize=all)
    target_link_options(${target} PRIVATE -fno-sanitize=all)
  endif()
endfunction()
