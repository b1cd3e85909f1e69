#include "normalizer/app.h"
#include "runtime/main.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::NormalizerConfig>(
      argc, argv,
      {sa::normalizer::kServiceName, sa::normalizer::DefaultConfig, sa::normalizer::ValidateConfig, sa::normalizer::CreateApp});
}
