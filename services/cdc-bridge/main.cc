#include "cdc_bridge/app.h"
#include "runtime/main.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::CdcBridgeConfig>(
      argc, argv,
      {sa::cdc_bridge::kServiceName, sa::cdc_bridge::DefaultConfig, sa::cdc_bridge::ValidateConfig, sa::cdc_bridge::CreateApp});
}
