# mnemo_set_warnings(target): the project's warning flags, errors when MNEMO_WERROR is on.
function(mnemo_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports false -Wrestrict positives inside std::string's operator+ at -O2
    # and above (GCC bug 105329).
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(MNEMO_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
