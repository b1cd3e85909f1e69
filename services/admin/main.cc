#include "runtime/main.h"

#include "admin/app.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::AdminConfig>(
      argc, argv,
      {sa::admin::kServiceName, sa::admin::DefaultConfig, sa::admin::ValidateConfig, sa::admin::CreateApp,
       sa::admin::FinalizeConfig});
}
