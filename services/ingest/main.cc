#include "ingest/app.h"
#include "runtime/main.h"

int main(int argc, char** argv) {
  return sa::runtime::RunServiceMain<streamadmin::config::v1::IngestConfig>(
      argc, argv,
      {sa::ingest::kServiceName, sa::ingest::DefaultConfig, sa::ingest::ValidateConfig, sa::ingest::CreateApp});
}
