#include "warehouse_sink/app.h"
#include "runtime/main.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::WarehouseSinkConfig>(
      argc, argv,
      {sa::warehouse_sink::kServiceName, sa::warehouse_sink::DefaultConfig, sa::warehouse_sink::ValidateConfig,
       sa::warehouse_sink::CreateApp});
}
