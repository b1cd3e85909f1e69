#include "runtime/main.h"

#include "views_service/app.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::ViewsConfig>(
      argc, argv,
      {sa::views_service::kServiceName, sa::views_service::DefaultConfig, sa::views_service::ValidateConfig,
       sa::views_service::CreateApp});
}
