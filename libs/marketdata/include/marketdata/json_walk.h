// JsonWalker: parses JSON with the same simdjson On Demand kernel (and the same
// padding rules) as the venue decoders and reads every value: each string
// unescaped, each number parsed, each key read. It is the "parse only"
// baseline the decoders are benchmarked against (bench/marketdata_bench.cc) -
// the cost of touching the whole frame without producing anything - and a
// cheap JSON validator for tools.
//
// Not thread-safe; one per thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace sa::md {

class JsonWalker {
 public:
  JsonWalker();
  ~JsonWalker();

  // Number of scalar values (strings, numbers, booleans, nulls) in `json`, or
  // InvalidArgument naming the simdjson error.
  absl::StatusOr<size_t> Walk(const std::string& json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sa::md
