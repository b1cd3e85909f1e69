// Who may read which source (admin/query.h): md:read, cdc:read and the
// hierarchical per-table grants, and the denial's message.
#include <gtest/gtest.h>

#include "admin/query.h"
#include "auth/permissions.h"
#include "caller.h"

namespace sa::admin {
namespace {

using test::With;

dsl::StaticCatalog Catalog() {
  dsl::StaticCatalog c = dsl::BuiltinCatalog();
  c.AddCdcTable("pg", "public", "orders", {{"id", "bigint"}});
  c.AddCdcTable("pg", "public", "Mixed", {{"id", "bigint"}});
  c.AddCdcTable("pg", "billing", "invoices", {{"id", "bigint"}});
  c.AddCdcTable("other", "public", "orders", {{"id", "bigint"}});
  return c;
}

std::vector<std::string> Readable(const auth::Caller& caller) {
  std::vector<std::string> out;
  const dsl::StaticCatalog c = Catalog();
  for (const auto* s : c.Sources())
    if (s->kind == dsl::SourceKind::kTable && MayRead(caller, *s)) out.push_back(s->name);
  return out;
}

TEST(QueryPermissions, MdReadOpensTheMarketDataTablesOnly) {
  EXPECT_EQ(Readable(With({"md:read"})), (std::vector<std::string>{"md.candles", "md.trades"}));
  EXPECT_TRUE(Readable(With({"cdc:write", "users:read"})).empty());
}

TEST(QueryPermissions, CdcGrantsNarrowFromEveryTableToOne) {
  EXPECT_EQ(Readable(With({"cdc:read"})),
            (std::vector<std::string>{"cdc_other_public.orders", "cdc_pg_billing.invoices", "cdc_pg_public.Mixed",
                                      "cdc_pg_public.orders"}));
  EXPECT_EQ(Readable(With({"cdc.pg:read"})),
            (std::vector<std::string>{"cdc_pg_billing.invoices", "cdc_pg_public.Mixed", "cdc_pg_public.orders"}));
  EXPECT_EQ(Readable(With({"cdc.pg.public:read"})),
            (std::vector<std::string>{"cdc_pg_public.Mixed", "cdc_pg_public.orders"}));
  EXPECT_EQ(Readable(With({"cdc.pg.public.orders:read"})), (std::vector<std::string>{"cdc_pg_public.orders"}));
  // Write or another action is not read; a prefix of a name is not a part.
  EXPECT_TRUE(Readable(With({"cdc.pg.public.orders:write", "cdc.p:read", "cdc.pg.pub:read"})).empty());
  // Wildcards as everywhere else.
  EXPECT_EQ(Readable(With({"*:read"})).size(), 6u);
  EXPECT_EQ(Readable(With({"*:*"})).size(), 6u);
}

TEST(QueryPermissions, AuthOffReadsEverything) { EXPECT_EQ(Readable(auth::Caller{}).size(), 6u); }

TEST(QueryPermissions, TheDenialNamesThePermission) {
  const dsl::StaticCatalog c = Catalog();
  EXPECT_EQ(DenialMessage(*c.Find("cdc_pg_public.orders")),
            "permission 'cdc:read' (or 'cdc.pg.public.orders:read') needed to read cdc_pg_public.orders");
  EXPECT_EQ(DenialMessage(*c.Find("md.trades")), "permission 'md:read' needed to read md.trades");
}

TEST(QueryPermissions, EveryQueryMethodNeedsAValidTokenAndReadsOnly) {
  for (const char* m : {"Run", "Explain", "Validate", "Catalog"}) {
    const std::string method = std::string("/streamadmin.query.v1.Query/") + m;
    EXPECT_EQ(auth::RequiredPermission(method), auth::kAuthenticated) << m;
    EXPECT_FALSE(auth::IsMutating(method)) << m << ": audited by the service itself, with rows and duration";
  }
}

TEST(QueryOptions, ComeFromTheConfigWithClearErrors) {
  streamadmin::config::v1::QueryConfig c;
  auto o = QueryOptionsFromConfig(c);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(QueryEngine(*o).enabled());
  EXPECT_EQ(o->role, "sa_query");
  c.set_role("sa_query; DROP ROLE postgres");
  auto bad = QueryOptionsFromConfig(c);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "key 'query.role': 'sa_query; DROP ROLE postgres' is not [a-z_][a-z0-9_]{0,62}");
}

}  // namespace
}  // namespace sa::admin
