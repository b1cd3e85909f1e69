#include "fuzz_target.h"

#include <cstdio>
#include <cstdlib>

namespace sa::fuzz {

std::vector<Target>& Targets() {
  static auto* targets = new std::vector<Target>;
  return *targets;
}

void Broken(std::string_view target, std::string_view what, std::string_view input, std::string_view detail) {
  std::string shown;
  for (char c : input.substr(0, 4096)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      shown.push_back(c);
    } else {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", u);
      shown += buf;
    }
  }
  fprintf(stderr, "fuzz target %.*s: invariant broken: %.*s\n%.*s\ninput (%zu bytes): %s\n",
          static_cast<int>(target.size()), target.data(), static_cast<int>(what.size()), what.data(),
          static_cast<int>(detail.size()), detail.data(), input.size(), shown.c_str());
  std::abort();
}

std::vector<std::string_view> Lines(std::string_view data) {
  std::vector<std::string_view> out;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      out.push_back(data);
      break;
    }
    out.push_back(data.substr(0, nl));
    data.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace sa::fuzz
