#include "anomaly/app.h"
#include "runtime/main.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::AnomalyConfig>(
      argc, argv,
      {sa::anomaly::kServiceName, sa::anomaly::DefaultConfig, sa::anomaly::ValidateConfig, sa::anomaly::CreateApp});
}
