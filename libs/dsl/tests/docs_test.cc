// Every example of docs/DSL.md runs: ```dsl blocks must parse and type-check
// against the example catalog; a ```dsl-error block must fail, and when an
// ```error block follows it, with exactly that message.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "dsl/checker.h"
#include "dsl/error.h"
#include "dsl/filter.h"
#include "dsl/sql.h"

namespace sa::dsl {
namespace {

struct Block {
  std::string lang;
  std::string text;
  int line;  // of the opening fence
};

std::vector<Block> Blocks(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<Block> out;
  std::string line;
  int n = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("```", 0) == 0) {
      if (open == nullptr) {
        out.push_back(Block{line.substr(3), "", n});
        open = &out.back();
      } else {
        if (!open->text.empty() && open->text.back() == '\n') open->text.pop_back();
        open = nullptr;
      }
      continue;
    }
    if (open != nullptr) open->text += line + "\n";
  }
  EXPECT_EQ(open, nullptr) << "unclosed code block in " << path;
  return out;
}

std::string DocPath() {
  const char* src = std::getenv("SA_SOURCE_DIR");
  return std::string(src != nullptr ? src : ".") + "/docs/DSL.md";
}

TEST(DocsExamples, EveryDslBlockChecksAndCompilesForItsUse) {
  int n = 0;
  for (const Block& b : Blocks(DocPath())) {
    if (b.lang != "dsl") continue;
    ++n;
    CheckOptions o;
    auto plan = Check(b.text, ExampleCatalog(), o);
    ASSERT_TRUE(plan.ok()) << "docs/DSL.md:" << b.line << "\n" << b.text << "\n" << plan.status().message();
    switch (plan->use) {
      case Use::kFilter: EXPECT_TRUE(Filter::Compile(*plan).ok()) << b.line; break;
      case Use::kWarehouseQuery: {
        auto q = CompileSql(*plan);
        EXPECT_TRUE(q.ok()) << "docs/DSL.md:" << b.line << ": " << q.status();
        break;
      }
      case Use::kWindowedAggregate: EXPECT_TRUE(plan->window.has_value()); break;
    }
  }
  EXPECT_GE(n, 20) << "docs/DSL.md lost its examples";
}

TEST(DocsExamples, EveryErrorBlockFailsWithTheDocumentedMessage) {
  const std::vector<Block> blocks = Blocks(DocPath());
  int n = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].lang != "dsl-error") continue;
    ++n;
    CheckOptions o;
    auto plan = Check(blocks[i].text, ExampleCatalog(), o);
    ASSERT_FALSE(plan.ok()) << "docs/DSL.md:" << blocks[i].line << " should fail:\n" << blocks[i].text;
    EXPECT_TRUE(GetErrorDetail(plan.status()).has_value());
    if (i + 1 < blocks.size() && blocks[i + 1].lang == "error") {
      EXPECT_EQ(std::string(plan.status().message()), blocks[i + 1].text) << "docs/DSL.md:" << blocks[i].line;
    }
  }
  EXPECT_GE(n, 5);
}

}  // namespace
}  // namespace sa::dsl
