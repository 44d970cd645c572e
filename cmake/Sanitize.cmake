# EVO2_SANITIZE=address,undefined | thread: builds every target (libraries, tests, services)
# with the named sanitizers, so that CI runs the unit/integration/fault tests once under
# ASan+UBSan and once under TSan (scripts/test.sh). Applied globally rather than per target
# because a sanitizer must see every translation unit that shares memory or threads.
set(EVO2_SANITIZE "" CACHE STRING "Sanitizers for every target: address,undefined or thread")
if(EVO2_SANITIZE)
  if(EVO2_SANITIZE MATCHES "thread" AND EVO2_SANITIZE MATCHES "address")
    message(FATAL_ERROR "EVO2_SANITIZE: thread cannot be combined with address")
  endif()
  if(EVO2_HAVE_CUDA)
    message(FATAL_ERROR "EVO2_SANITIZE needs -DEVO2_ENABLE_CUDA=OFF (nvcc objects are not instrumented)")
  endif()
  # -fno-sanitize-recover: a UBSan finding fails the test instead of printing and going on.
  # -fno-omit-frame-pointer: readable stacks in CI logs.
  set(EVO2_SANITIZE_FLAGS -fsanitize=${EVO2_SANITIZE} -fno-omit-frame-pointer)
  if(EVO2_SANITIZE MATCHES "undefined")
    list(APPEND EVO2_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${EVO2_SANITIZE_FLAGS}>")
  add_link_options(${EVO2_SANITIZE_FLAGS})
  message(STATUS "Sanitizers for every target: ${EVO2_SANITIZE}")
endif()
