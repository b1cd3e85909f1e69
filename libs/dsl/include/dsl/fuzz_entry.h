// The one entry point the fuzz target (fuzz/dsl_fuzz.cc) and the seed-corpus
// unit test share: parses and checks arbitrary bytes against the example
// catalog, then compiles whatever checks (filter or SQL) and evaluates the
// filter on a sample trade. Aborts on a broken invariant (an error without a
// position, a plan a back end refuses); returns normally otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sa::dsl {

void FuzzOne(const uint8_t* data, size_t size);

}  // namespace sa::dsl
