// Small terminal helpers shared by the stream-admin commands.
#pragma once

#include <string>

namespace sa::cli {

// A line typed at the terminal without echo, after printing `question` on
// stderr; empty when stdin is not a terminal (scripts pass secrets by env).
std::string PromptSecret(const char* question);

// The environment variable `name`, or "" when unset.
std::string EnvOr(const char* name);

}  // namespace sa::cli
