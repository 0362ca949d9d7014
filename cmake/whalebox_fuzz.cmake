# libFuzzer targets. The project builds with g++ and libFuzzer needs clang, so the module sources
# a fuzzer exercises are compiled by invoking clang++-14 directly, with the fuzzer's
# instrumentation and ASan + UBSan, once per module for all its fuzzers. Each fuzzer gets a
# bounded ctest run from its seed corpus (30 s), in a fresh copy of the corpus so parallel runs
# never share a directory. Without clang++-14 the targets are skipped with a message.
#
#   whalebox_fuzz(MODULE dsml SOURCES a.cc b.cc FUZZERS dsml_stream_fuzz ... SEEDS dir
#                 [LINK -lpugixml ...] [MAX_LEN 8192] LABEL dsml)
# A fuzzer `name` is built from ${CMAKE_CURRENT_SOURCE_DIR}/name.cc.
find_program(WHALEBOX_CLANGXX14 clang++-14)

function(whalebox_fuzz)
  cmake_parse_arguments(F "" "MODULE;SEEDS;MAX_LEN;LABEL" "SOURCES;FUZZERS;LINK" ${ARGN})
  if(NOT WHALEBOX_CLANGXX14)
    message(STATUS "${F_MODULE} fuzz targets skipped: clang++-14 not found")
    return()
  endif()
  if(NOT F_MAX_LEN)
    set(F_MAX_LEN 8192)
  endif()
  set(flags -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
      -I${PROJECT_SOURCE_DIR})
  set(objdir ${CMAKE_CURRENT_BINARY_DIR}/fuzz_obj)
  set(lib ${objdir}/lib${F_MODULE}_fuzz.a)
  add_custom_command(
    OUTPUT ${lib}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${objdir}
    COMMAND ${CMAKE_COMMAND} -E chdir ${objdir} ${WHALEBOX_CLANGXX14} ${flags} -c ${F_SOURCES}
    COMMAND ${CMAKE_COMMAND} -E chdir ${objdir} sh -c "rm -f lib${F_MODULE}_fuzz.a && ar rcs lib${F_MODULE}_fuzz.a *.o"
    DEPENDS ${F_SOURCES}
    COMMENT "clang++-14: ${F_MODULE} sources for the fuzz targets"
    VERBATIM)
  # One target owns the library and every fuzzer of the module: a generated file listed by two
  # targets gets its rule run by both, in parallel builds at the same time.
  set(binaries)
  foreach(fuzzer ${F_FUZZERS})
    set(binary ${CMAKE_CURRENT_BINARY_DIR}/${fuzzer})
    list(APPEND binaries ${binary})
    add_custom_command(
      OUTPUT ${binary}
      COMMAND ${WHALEBOX_CLANGXX14} ${flags} ${CMAKE_CURRENT_SOURCE_DIR}/${fuzzer}.cc ${lib} ${F_LINK} -o ${binary}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${fuzzer}.cc ${lib}
      COMMENT "clang++-14 libFuzzer: ${fuzzer}"
      VERBATIM)
  endforeach()
  add_custom_target(${F_MODULE}_fuzz_build ALL DEPENDS ${binaries})
  foreach(fuzzer ${F_FUZZERS})
    set(binary ${CMAKE_CURRENT_BINARY_DIR}/${fuzzer})
    add_test(NAME ${fuzzer}
      COMMAND sh -c "rm -rf \"$0.corpus\" && cp -r \"$1\" \"$0.corpus\" && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \"$0\" -max_total_time=30 -rss_limit_mb=1024 -max_len=${F_MAX_LEN} -print_final_stats=1 \"$0.corpus\""
              ${binary} ${F_SEEDS})
    set_tests_properties(${fuzzer} PROPERTIES LABELS "${F_LABEL};fuzz" TIMEOUT 120)
  endforeach()
endfunction()
