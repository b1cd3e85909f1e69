// query.v1 Ask ([10], docs/ASK.md): a question in plain words translated
// into the DSL by any OpenAI-compatible chat-completions model, then checked
// and run like any query.
//
// The model's output is only ever DSL text. Nothing it writes reaches the
// database but a statement that the parser, the type checker and the caller's
// permissions accepted, compiled by dsl::CompileSql and run read-only by
// QueryEngine. The model sees the DSL reference, the caller's own catalog
// (QueryEngine::CatalogFor: the tables this caller may read, nothing else)
// and the errors of its earlier answers; never query results.
//
// Pieces, each reachable by a unit test:
//   ChatClient   one POST /v1/chat/completions (cpp-httplib, http or https),
//                transport retries, errors mapped to status codes;
//   AskPrompt    the system message (reference, examples, catalog) and the
//                request body (response_format json_schema or a GBNF grammar);
//   Translate    the loop: ask, parse the answer, check it, feed the error
//                (line:col and caret) back, up to max_tries.
//
// Threading: ChatClient and Translate are reentrant (a new HTTP client per
// request); a call blocks for at most about
// max_tries * (retries + 1) * timeout plus the backoff.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dsl/catalog.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::admin {

struct AskOptions {
  std::string endpoint;  // empty: Ask is off (FAILED_PRECONDITION naming ask.endpoint)
  std::string model;
  std::string api_key;
  int64_t timeout_ms = 60000;
  int retries = 1;
  int max_tries = 3;
  enum class Constrain { kJsonSchema, kGrammar } constrain = Constrain::kJsonSchema;
};

// From the admin config's `ask` section; errors name the key.
absl::StatusOr<AskOptions> AskOptionsFromConfig(const streamadmin::config::v1::AskConfig& config);

// The GBNF grammar of the DSL's warehouse queries (services/admin/ask/dsl.gbnf).
const std::string& DslGrammar();

struct ChatMessage {
  std::string role;  // system, user, assistant
  std::string content;
};

// An OpenAI-compatible chat-completions client.
class ChatClient {
 public:
  explicit ChatClient(AskOptions options) : options_(std::move(options)) {}

  // POSTs `body` (a chat-completions request) and returns choices[0].message.content.
  // Errors (the cause in the message, never the API key):
  //   FAILED_PRECONDITION  no endpoint, or an endpoint that is not a http(s) URL;
  //   UNAVAILABLE          connection refused or broken, HTTP 5xx or 429 (after `retries` more requests);
  //   DEADLINE_EXCEEDED    no answer within timeout_ms;
  //   INTERNAL             another HTTP status, a body that is not JSON, no choices, no content.
  absl::StatusOr<std::string> Complete(const std::string& body) const;

  const AskOptions& options() const { return options_; }

 private:
  absl::StatusOr<std::string> CompleteOnce(const std::string& body) const;
  AskOptions options_;
};

// The system message: what the model is for, the rules, a compact DSL
// reference with examples, and `catalog`'s tables (only those) with their
// fields and types.
std::string SystemPrompt(const dsl::Catalog& catalog, AskOptions::Constrain constrain);
// The chat-completions request body for `messages`.
std::string RequestBody(const AskOptions& options, const std::vector<ChatMessage>& messages);

// The DSL and explanation in one answer (the message content): a JSON object
// {dsl, explanation} (json_schema), or the statement and an optional last
// comment line "// explanation" (grammar). Not an answer of that shape: an
// INVALID_ARGUMENT that goes back to the model like a DSL error.
struct ModelAnswer {
  std::string dsl;
  std::string explanation;
};
absl::StatusOr<ModelAnswer> ParseAnswer(const std::string& content, AskOptions::Constrain constrain);

struct Translation {
  ModelAnswer answer;  // the accepted answer
  int tries = 0;       // answers asked for, the accepted one included
};

// The loop. `check(dsl)` decides an answer: OK accepts it; INVALID_ARGUMENT
// (a DSL error with line:col and caret in its message) is sent back to the
// model for another answer, up to max_tries; any other error ends the loop
// with that error (PERMISSION_DENIED: no retry, the model must not probe).
// After max_tries invalid answers: INVALID_ARGUMENT naming the tries and the
// last answer's error. Errors of the endpoint come from ChatClient::Complete.
// `on_request` sees every request body sent (tests).
using CheckFn = std::function<absl::Status(const std::string& dsl)>;
absl::StatusOr<Translation> Translate(const ChatClient& client, const dsl::Catalog& catalog,
                                      const std::string& question, const CheckFn& check,
                                      const std::function<void(const std::string&)>& on_request = {});

}  // namespace sa::admin
