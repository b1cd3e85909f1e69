#include "marketdata/decoder_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sa::md {

namespace internal {
void DieOnDuplicateDecoder(const char* name) {
  std::fprintf(stderr, "sa::md: decoder \"%s\" registered twice\n", name);
  std::abort();
}
}  // namespace internal

DecoderRegistry& DecoderRegistry::Global() {
  static DecoderRegistry* registry = [] {
    auto* r = new DecoderRegistry();
    RegisterBuiltinDecoders(*r);
    return r;
  }();
  return *registry;
}

absl::Status DecoderRegistry::Register(absl::string_view name, Factory factory) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = factories_.try_emplace(std::string(name), std::move(factory));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("decoder \"", name, "\" is already registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Decoder>> DecoderRegistry::Create(
    absl::string_view name, const DecoderOptions& options) const {
  Factory factory;
  {
    absl::MutexLock lock(&mu_);
    auto it = factories_.find(name);
    if (it != factories_.end()) factory = it->second;
  }
  if (!factory) {
    return absl::NotFoundError(absl::StrCat("no decoder for venue \"", name,
                                            "\"; known: ", absl::StrJoin(Names(), ", ")));
  }
  return factory(options);
}

std::vector<std::string> DecoderRegistry::Names() const {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, factory] : factories_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace sa::md
