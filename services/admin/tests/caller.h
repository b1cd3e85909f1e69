// A caller for the admin's unit tests: authenticated as "u" with `perms`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "auth/enforcer.h"

namespace sa::admin::test {

inline auth::Caller With(std::vector<std::string> perms) {
  auth::Caller c;
  c.authenticated = true;
  c.name = "u";
  c.perms = std::move(perms);
  return c;
}

}  // namespace sa::admin::test
