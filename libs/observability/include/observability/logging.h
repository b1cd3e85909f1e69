// Process-wide logging through spdlog's default logger. JSON lines on stderr
// by default, one object per line:
//   {"ts":"2026-11-21T10:00:00.123456Z","level":"info","service":"ingest","thread":123,"msg":"..."}
// Every library logs with spdlog::info(...) etc.; only main (through the
// runtime) calls InitLogging.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace sa::obs {

// level: trace|debug|info|warn|error|critical|off ("" = info);
// format: json|text ("" = json). Unknown values are an InvalidArgument error.
absl::Status InitLogging(std::string_view service, std::string_view level, std::string_view format);

// Escapes text for inclusion inside a JSON string literal.
std::string JsonEscape(std::string_view text);

}  // namespace sa::obs
