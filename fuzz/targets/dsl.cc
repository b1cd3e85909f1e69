// The DSL: parse, check against the example catalog, then compile and run
// whatever checks (libs/dsl/include/dsl/fuzz_entry.h says what it aborts on).
// Inputs are DSL text; fuzz/dsl.dict holds its keywords.
#include "dsl/fuzz_entry.h"
#include "fuzz_target.h"

SA_FUZZ_TARGET(dsl) { sa::dsl::FuzzOne(data, size); }
