// bus::KeyValue — small durable state (checkpoints, cursors) in a JetStream
// KV bucket. Not for bulk data.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

  struct Entry {
    std::string key;
    std::string value;
    uint64_t revision = 0;
    bool deleted = false;  // a delete or purge marker (watchers only)
  };

  // Returns the new revision.
  absl::StatusOr<uint64_t> Put(const std::string& key, const std::string& value);
  // nullopt when the key does not exist or was deleted.
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  // The value with its revision; nullopt when absent or deleted.
  absl::StatusOr<std::optional<Entry>> GetEntry(const std::string& key);
  absl::Status Delete(const std::string& key);

  // Compare-and-set, for leases and single-writer state. Both return the new
  // revision, or FailedPrecondition when the key is not as expected (it
  // exists / its latest revision is another), saying what it is.
  absl::StatusOr<uint64_t> PutIfAbsent(const std::string& key, const std::string& value);
  absl::StatusOr<uint64_t> PutIfRevision(const std::string& key, const std::string& value, uint64_t revision);

  // Every key holding a value (deleted ones left out); empty bucket: empty.
  absl::StatusOr<std::vector<std::string>> Keys();

  // Changes of the keys matching a pattern, in revision order: first the
  // current value of each (then one std::nullopt marks "initial values
  // done"), then every put and delete as it happens. A watcher does not
  // survive a connection rebuild: on an error, watch again.
  class Watcher {
   public:
    ~Watcher();
    // The next change, or DeadlineExceeded after `timeout`; the optional
    // is empty once, after the initial values.
    absl::StatusOr<std::optional<Entry>> Next(absl::Duration timeout);
    // Makes a waiting Next() return (FailedPrecondition); thread-safe.
    void Stop();

   private:
    friend class KeyValue;
    struct State;
    explicit Watcher(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };
  // `keys`: a key, or a pattern with * and > ("view.>", ">" for all).
  absl::StatusOr<std::unique_ptr<Watcher>> Watch(const std::string& keys);

  const std::string& bucket() const;

 private:
  explicit KeyValue(std::unique_ptr<internal::KeyValueState> state);
  std::unique_ptr<internal::KeyValueState> state_;
};

}  // namespace sa::bus
