# Every dependency comes from a Debian bookworm package (see scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(simdjson CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)

# Debian's cnats CMake config points at a static library that is not shipped:
# use pkg-config instead.
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka rdkafka++)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
# RE2 (linear-time regular expressions) for the DSL's matches(); Debian ships
# no CMake config for it.
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
# Services allocate per message (frames, headers, protobufs) on several
# threads; glibc malloc spent ~25 % of the normalizer's CPU consolidating
# fastbins (docs/PERFORMANCE.md). Not with the sanitizers (they bring their own).
if(NOT SA_SANITIZE)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
endif()

find_program(PROTOC protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_program(NATS_SERVER nats-server PATHS /usr/sbin /usr/bin)
