#include "anomaly_service/app.h"
#include "runtime/main.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::AnomalyConfig>(
      argc, argv,
      {sa::anomaly_service::kServiceName, sa::anomaly_service::DefaultConfig, sa::anomaly_service::ValidateConfig, sa::anomaly_service::CreateApp});
}
