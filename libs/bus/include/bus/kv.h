// bus::KeyValue — small durable state (checkpoints, cursors) in a JetStream
// KV bucket. Not for bulk data.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/jetstream.h"

namespace sa::bus {

namespace internal {
struct KeyValueState;
}

// Thread-safe. Every call is a request to the server: during a reconnect it
// fails with Unavailable/DeadlineExceeded and the caller retries.
class KeyValue {
 public:
  struct Options {
    int history = 1;                              // values kept per key (1..64)
    absl::Duration ttl = absl::ZeroDuration();    // 0: keep forever
    int64_t max_bytes = 0;                        // 0: unlimited
    std::string storage = "file";                 // file or memory
  };

  // Creates the bucket, or opens it when it already exists.
  static absl::StatusOr<std::unique_ptr<KeyValue>> Create(JetStream& js, const std::string& bucket,
                                                          const Options& options);
  static absl::StatusOr<std::unique_ptr<KeyValue>> Create(JetStream& js, const std::string& bucket) {
    return Create(js, bucket, Options{});
  }
  // Opens an existing bucket (NotFound otherwise).
  static absl::StatusOr<std::unique_ptr<KeyValue>> Open(JetStream& js, const std::string& bucket);

  ~KeyValue();
  KeyValue(const KeyValue&) = delete;
  KeyValue& operator=(const KeyValue&) = delete;

  // Returns the new revision.
  absl::StatusOr<uint64_t> Put(const std::string& key, const std::string& value);
  // nullopt when the key does not exist or was deleted.
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  absl::Status Delete(const std::string& key);

  const std::string& bucket() const;

 private:
  explicit KeyValue(std::unique_ptr<internal::KeyValueState> state);
  std::unique_ptr<internal::KeyValueState> state_;
};

}  // namespace sa::bus
