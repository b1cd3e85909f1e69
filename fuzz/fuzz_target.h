// Fuzz targets for every parser of outside input (fuzz/README.md).
//
// A target is a function of arbitrary bytes that feeds them to one parser and
// aborts (Broken) when the parser breaks a promise its header makes: an error
// of the wrong kind, a result that does not round-trip, state left
// inconsistent. Crashes, leaks and undefined behaviour are the sanitizers'.
//
//   SA_FUZZ_TARGET(pgoutput) { ... data, size ... }
//
// registers the target under its name. The same object files serve two
// programs: fuzz_corpus_test (every build) runs each file of
// fuzz/corpus/<name>/ through its target, and with -DSA_FUZZ=ON (clang) each
// target also gets a libFuzzer executable build/fuzz/<name>_fuzz.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sa::fuzz {

using TargetFn = void (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;
  TargetFn fn;
};

// Every target linked into this program, in registration order.
std::vector<Target>& Targets();

struct Registration {
  Registration(const char* name, TargetFn fn) { Targets().push_back({name, fn}); }
};

// Prints what broke and the input (escaped, first 4 KB), then aborts.
[[noreturn]] void Broken(std::string_view target, std::string_view what, std::string_view input,
                         std::string_view detail = {});

// Splits fuzz input into records at '\n' (the last one may lack it).
std::vector<std::string_view> Lines(std::string_view data);

}  // namespace sa::fuzz

#define SA_FUZZ_TARGET(name)                                                                          \
  static void SaFuzzTarget_##name(const uint8_t* data, size_t size);                                  \
  static const ::sa::fuzz::Registration sa_fuzz_registration_##name(#name, &SaFuzzTarget_##name); \
  static void SaFuzzTarget_##name(const uint8_t* data, size_t size)
