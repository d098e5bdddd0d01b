# Sanitizer and fuzzing builds, each in a build directory of its own:
#
#   -DMNEMO_SANITIZE=address,undefined   AddressSanitizer + UndefinedBehaviorSanitizer on
#                                        everything built (clang or gcc)
#   -DMNEMO_SANITIZE=thread              ThreadSanitizer
#   -DMNEMO_FUZZ=ON                      the libFuzzer targets of fuzz/ (clang only, with
#                                        MNEMO_SANITIZE), over a library of the readers'
#                                        layers built with coverage instrumentation
#
# Any sanitizer report aborts the program (no recovery), so that a test or a fuzz run
# that triggers one fails. Sanitized code is built at -O1 with line tables, whatever
# CMAKE_BUILD_TYPE says: fast enough to run the suite, precise enough to symbolize.

if(MNEMO_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "MNEMO_FUZZ needs clang (libFuzzer); configure with "
                      "-DCMAKE_CXX_COMPILER=clang++")
endif()
if(MNEMO_FUZZ AND NOT MNEMO_SANITIZE)
  message(FATAL_ERROR "MNEMO_FUZZ needs MNEMO_SANITIZE (address,undefined): a fuzzer "
                      "without sanitizers misses most memory errors")
endif()

if(MNEMO_SANITIZE)
  string(REPLACE "," ";" _mnemo_sanitizers "${MNEMO_SANITIZE}")
  foreach(_sanitizer IN LISTS _mnemo_sanitizers)
    if(NOT _sanitizer MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "MNEMO_SANITIZE: unknown sanitizer '${_sanitizer}' "
                          "(expected address, undefined, thread or leak)")
    endif()
  endforeach()
  if("thread" IN_LIST _mnemo_sanitizers AND "address" IN_LIST _mnemo_sanitizers)
    message(FATAL_ERROR "MNEMO_SANITIZE: thread and address cannot be combined")
  endif()

  set(_mnemo_sanitize_flags -fsanitize=${MNEMO_SANITIZE} -fno-omit-frame-pointer)
  if("undefined" IN_LIST _mnemo_sanitizers)
    list(APPEND _mnemo_sanitize_flags -fno-sanitize-recover=all)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    list(APPEND _mnemo_sanitize_flags -gline-tables-only)
  else()
    list(APPEND _mnemo_sanitize_flags -g1)
  endif()
  add_compile_options(-O1 ${_mnemo_sanitize_flags})
  add_link_options(-fsanitize=${MNEMO_SANITIZE})
  message(STATUS "mnemo: sanitizers ${MNEMO_SANITIZE}")
endif()
