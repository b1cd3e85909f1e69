# sa_library / sa_test / sa_executable: one shape for every target.
#
#   sa_library(NAME bus SRCS src/a.cc DEPS sa::common PUBLIC_DEPS ...)
#     -> target sa_bus, alias sa::bus, public include dir <folder>/include
#   sa_test(NAME bus_test SRCS tests/a_test.cc DEPS sa::bus LABELS unit|integration)
#   sa_executable(NAME ingest SRCS main.cc DEPS ...) -> binary "ingest"

set(SA_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers)
if(SA_WERROR)
  list(APPEND SA_WARNINGS -Werror)
endif()

if(SA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Fuzz targets (libs/*/fuzz): libFuzzer's coverage instrumentation in every
# object, clang only; the fuzz executables add -fsanitize=fuzzer.
if(SA_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SA_FUZZ needs clang: CC=clang CXX=clang++")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

function(sa_library)
  cmake_parse_arguments(SA "" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  set(target sa_${SA_NAME})
  if(SA_SRCS)
    add_library(${target} STATIC ${SA_SRCS})
    target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                         PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${SA_PUBLIC_DEPS} ${SA_DEPS})
    target_compile_options(${target} PRIVATE ${SA_WARNINGS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(${target} INTERFACE ${SA_PUBLIC_DEPS} ${SA_DEPS})
  endif()
  add_library(sa::${SA_NAME} ALIAS ${target})
endfunction()

# LABELS: unit (no servers) or integration (starts nats-server / PostgreSQL).
function(sa_test)
  cmake_parse_arguments(SA "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${SA_NAME} ${SA_SRCS})
  target_link_libraries(${SA_NAME} PRIVATE ${SA_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_options(${SA_NAME} PRIVATE ${SA_WARNINGS})
  if(NOT SA_LABELS)
    set(SA_LABELS unit)
  endif()
  if(NOT SA_TIMEOUT)
    set(SA_TIMEOUT 300)
  endif()
  add_test(NAME ${SA_NAME} COMMAND ${SA_NAME} --gtest_color=no)
  set_tests_properties(${SA_NAME} PROPERTIES LABELS "${SA_LABELS}" TIMEOUT ${SA_TIMEOUT}
    ENVIRONMENT "SA_BUILD_DIR=${CMAKE_BINARY_DIR};SA_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

function(sa_executable)
  cmake_parse_arguments(SA "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${SA_NAME} ${SA_SRCS})
  target_link_libraries(${SA_NAME} PRIVATE ${SA_DEPS})
  if(TARGET PkgConfig::JEMALLOC)
    target_link_libraries(${SA_NAME} PRIVATE PkgConfig::JEMALLOC)
  endif()
  target_compile_options(${SA_NAME} PRIVATE ${SA_WARNINGS})
  set_target_properties(${SA_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()
