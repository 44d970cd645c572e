# EVO2_FUZZ=ON: libFuzzer targets for every parser of outside bytes (tests/fuzz), with ASan and
# UBSan. Every translation unit gets coverage instrumentation (-fsanitize=fuzzer-no-link), so
# the fuzzer is guided by the parsers' branches, not just the target's; only the fuzz targets
# link libFuzzer's main. Clang only: GCC has no libFuzzer.
if(EVO2_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "EVO2_FUZZ needs clang (e.g. CXX=clang++ CC=clang); this is ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(EVO2_SANITIZE)
    message(FATAL_ERROR "EVO2_FUZZ brings its own sanitizers; leave EVO2_SANITIZE empty")
  endif()
  if(EVO2_HAVE_CUDA)
    message(FATAL_ERROR "EVO2_FUZZ needs -DEVO2_ENABLE_CUDA=OFF")
  endif()
  set(EVO2_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
                           -fno-omit-frame-pointer)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link;${EVO2_FUZZ_SANITIZERS}>")
  add_link_options(${EVO2_FUZZ_SANITIZERS})
  message(STATUS "Fuzz build: libFuzzer targets in tests/fuzz with ASan+UBSan")
endif()
