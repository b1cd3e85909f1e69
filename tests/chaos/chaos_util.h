// Kill-anywhere harness parts: how many kills, which seed, and the plan of
// where each kill falls, printed so that a failing run can be repeated.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/numbers.h"

namespace sa::chaos {

// SA_CHAOS_KILLS (default `fallback`): kill points per run. CI runs the
// default; the soak label runs hundreds.
inline int Kills(int fallback) {
  int n = 0;
  const char* e = std::getenv("SA_CHAOS_KILLS");
  return e != nullptr && absl::SimpleAtoi(e, &n) && n > 0 ? n : fallback;
}

// SA_CHAOS_SEED, or a fresh one; the test prints it.
inline uint64_t Seed() {
  uint64_t s = 0;
  const char* e = std::getenv("SA_CHAOS_SEED");
  if (e != nullptr && absl::SimpleAtoi(e, &s)) return s;
  return std::random_device{}();
}

// Seed(), printed with the run's name and kill count ("<run>: <kills> kills,
// seed <seed> (SA_CHAOS_SEED to repeat)") before the run starts.
inline uint64_t AnnouncedSeed(const std::string& run, int kills) {
  const uint64_t seed = Seed();
  std::printf("%s: %d kills, seed %llu (SA_CHAOS_SEED to repeat)\n", run.c_str(), kills,
              static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace sa::chaos
