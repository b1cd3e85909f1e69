#include "bus/kv.h"

#include <nats/nats.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "internal/jetstream_state.h"
#include "internal/nats_status.h"

namespace sa::bus {
namespace internal {

// One kvStore and the context it was made on, destroyed with its last user.
struct KvHandle {
  ~KvHandle() { kvStore_Destroy(kv); }
  kvStore* kv = nullptr;
  std::shared_ptr<jsCtx> js;
  uint64_t generation = 0;
};

// The bucket exists (Create/Open checked); after a rebuild the store is
// opened again on the new connection's context at first use.
struct KeyValueState {
  absl::StatusOr<std::shared_ptr<KvHandle>> Store() {
    auto ctx = js->Ctx();
    if (!ctx.ok()) return ctx.status();
    std::lock_guard<std::mutex> lock(mu);
    if (kv != nullptr && kv->generation >= ctx->generation) return kv;
    auto fresh = std::make_shared<KvHandle>();
    fresh->js = ctx->js;
    fresh->generation = ctx->generation;
    natsStatus s = js_KeyValue(&fresh->kv, ctx->js.get(), bucket.c_str());
    if (s != NATS_OK) return NatsToStatus(s, absl::StrCat("KeyValue open ", bucket));
    kv = std::move(fresh);
    return kv;
  }

  std::shared_ptr<JetStreamState> js;
  std::string bucket;
  std::mutex mu;
  std::shared_ptr<KvHandle> kv;  // guarded by mu
};

}  // namespace internal

using internal::NatsToStatus;

KeyValue::KeyValue(std::unique_ptr<internal::KeyValueState> state) : state_(std::move(state)) {}
KeyValue::~KeyValue() = default;

absl::StatusOr<std::unique_ptr<KeyValue>> KeyValue::Create(JetStream& js, const std::string& bucket,
                                                           const Options& options) {
  auto state = std::make_unique<internal::KeyValueState>();
  state->js = js.state_;
  state->bucket = bucket;
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket.c_str();
  cfg.History = static_cast<uint8_t>(std::clamp(options.history, 1, 64));
  cfg.TTL = absl::ToInt64Nanoseconds(options.ttl);  // the stream's MaxAge, in ns
  cfg.MaxBytes = options.max_bytes > 0 ? options.max_bytes : -1;
  if (options.storage == "memory") {
    cfg.StorageType = js_MemoryStorage;
  } else if (options.storage.empty() || options.storage == "file") {
    cfg.StorageType = js_FileStorage;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("KeyValue ", bucket, ": bad storage ", options.storage));
  }
  const std::string op = absl::StrCat("KeyValue create ", bucket);
  auto ctx = state->js->Ctx();
  if (!ctx.ok()) return absl::Status(ctx.status().code(), absl::StrCat(op, ": ", ctx.status().message()));
  auto handle = std::make_shared<internal::KvHandle>();
  handle->js = ctx->js;
  handle->generation = ctx->generation;
  natsStatus s = js_CreateKeyValue(&handle->kv, ctx->js.get(), &cfg);
  if (s == NATS_ERR) {
    // Exists with another configuration: use it as it is. When it does not
    // exist, the creation's own error says why (e.g. a refused setting).
    absl::Status create_error = NatsToStatus(s, op);
    s = js_KeyValue(&handle->kv, ctx->js.get(), bucket.c_str());
    if (s == NATS_NOT_FOUND) return create_error;
  }
  if (s != NATS_OK) return NatsToStatus(s, op);
  state->kv = std::move(handle);
  return std::unique_ptr<KeyValue>(new KeyValue(std::move(state)));
}

absl::StatusOr<std::unique_ptr<KeyValue>> KeyValue::Open(JetStream& js, const std::string& bucket) {
  auto state = std::make_unique<internal::KeyValueState>();
  state->js = js.state_;
  state->bucket = bucket;
  auto kv = state->Store();
  if (!kv.ok()) return kv.status();
  return std::unique_ptr<KeyValue>(new KeyValue(std::move(state)));
}

absl::StatusOr<uint64_t> KeyValue::Put(const std::string& key, const std::string& value) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  uint64_t rev = 0;
  natsStatus s = kvStore_Put(&rev, (*kv)->kv, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return NatsToStatus(s, absl::StrCat("KeyValue put ", state_->bucket, "/", key));
  return rev;
}

absl::StatusOr<std::optional<std::string>> KeyValue::Get(const std::string& key) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, (*kv)->kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<std::string>();
  if (s != NATS_OK) return NatsToStatus(s, absl::StrCat("KeyValue get ", state_->bucket, "/", key));
  const void* data = kvEntry_Value(e);
  std::string value(static_cast<const char*>(data), static_cast<size_t>(kvEntry_ValueLen(e)));
  kvEntry_Destroy(e);
  return std::optional<std::string>(std::move(value));
}

absl::Status KeyValue::Delete(const std::string& key) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  return NatsToStatus(kvStore_Delete((*kv)->kv, key.c_str()),
                      absl::StrCat("KeyValue delete ", state_->bucket, "/", key));
}

namespace {

KeyValue::Entry EntryOf(kvEntry* e) {
  KeyValue::Entry out;
  out.key = kvEntry_Key(e);
  const void* data = kvEntry_Value(e);
  const int len = kvEntry_ValueLen(e);
  if (data != nullptr && len > 0) out.value.assign(static_cast<const char*>(data), static_cast<size_t>(len));
  out.revision = kvEntry_Revision(e);
  const kvOperation op = kvEntry_Operation(e);
  out.deleted = op == kvOp_Delete || op == kvOp_Purge;
  return out;
}

}  // namespace

absl::StatusOr<std::optional<KeyValue::Entry>> KeyValue::GetEntry(const std::string& key) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, (*kv)->kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<Entry>();
  if (s != NATS_OK) return NatsToStatus(s, absl::StrCat("KeyValue get ", state_->bucket, "/", key));
  Entry entry = EntryOf(e);
  kvEntry_Destroy(e);
  return std::optional<Entry>(std::move(entry));
}

// nats.c reports a failed expectation as a plain NATS_ERR: the key's state
// (read right after) tells a conflict from another failure.
absl::StatusOr<uint64_t> KeyValue::PutIfAbsent(const std::string& key, const std::string& value) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  uint64_t rev = 0;
  natsStatus s = kvStore_Create(&rev, (*kv)->kv, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s == NATS_OK) return rev;
  absl::Status failed = NatsToStatus(s, absl::StrCat("KeyValue create ", state_->bucket, "/", key));
  auto now = GetEntry(key);
  if (now.ok() && now->has_value())
    return absl::FailedPreconditionError(
        absl::StrCat("KeyValue create ", state_->bucket, "/", key, ": exists (revision ", (*now)->revision, ")"));
  return failed;
}

absl::StatusOr<uint64_t> KeyValue::PutIfRevision(const std::string& key, const std::string& value, uint64_t revision) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  uint64_t rev = 0;
  natsStatus s = kvStore_Update(&rev, (*kv)->kv, key.c_str(), value.data(), static_cast<int>(value.size()), revision);
  if (s == NATS_OK) return rev;
  absl::Status failed = NatsToStatus(s, absl::StrCat("KeyValue update ", state_->bucket, "/", key));
  auto now = GetEntry(key);
  if (now.ok() && (!now->has_value() || (*now)->revision != revision))
    return absl::FailedPreconditionError(
        absl::StrCat("KeyValue update ", state_->bucket, "/", key, ": expected revision ", revision, ", found ",
                     now->has_value() ? absl::StrCat("revision ", (*now)->revision) : std::string("no value")));
  return failed;
}

absl::StatusOr<std::vector<std::string>> KeyValue::Keys() {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  kvKeysList list{};
  natsStatus s = kvStore_Keys(&list, (*kv)->kv, nullptr);
  std::vector<std::string> keys;
  if (s == NATS_NOT_FOUND) return keys;  // an empty bucket
  if (s != NATS_OK) return NatsToStatus(s, absl::StrCat("KeyValue keys ", state_->bucket));
  for (int i = 0; i < list.Count; ++i) keys.emplace_back(list.Keys[i]);
  kvKeysList_Destroy(&list);
  std::sort(keys.begin(), keys.end());
  return keys;
}

struct KeyValue::Watcher::State {
  ~State() { kvWatcher_Destroy(watcher); }
  kvWatcher* watcher = nullptr;
  std::shared_ptr<internal::KvHandle> kv;  // keeps the store and its context alive
  std::string what;
};

KeyValue::Watcher::Watcher(std::unique_ptr<State> state) : state_(std::move(state)) {}
KeyValue::Watcher::~Watcher() = default;

void KeyValue::Watcher::Stop() { kvWatcher_Stop(state_->watcher); }

absl::StatusOr<std::optional<KeyValue::Entry>> KeyValue::Watcher::Next(absl::Duration timeout) {
  kvEntry* e = nullptr;
  natsStatus s = kvWatcher_Next(&e, state_->watcher, std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
  if (s == NATS_TIMEOUT) return absl::DeadlineExceededError(absl::StrCat(state_->what, ": no change"));
  if (s == NATS_ILLEGAL_STATE) return absl::FailedPreconditionError(absl::StrCat(state_->what, ": stopped"));
  if (s != NATS_OK) return NatsToStatus(s, state_->what);
  if (e == nullptr) return std::optional<Entry>();
  Entry entry = EntryOf(e);
  kvEntry_Destroy(e);
  return std::optional<Entry>(std::move(entry));
}

absl::StatusOr<std::unique_ptr<KeyValue::Watcher>> KeyValue::Watch(const std::string& keys) {
  auto kv = state_->Store();
  if (!kv.ok()) return kv.status();
  auto state = std::make_unique<Watcher::State>();
  state->kv = *kv;
  state->what = absl::StrCat("KeyValue watch ", state_->bucket, "/", keys);
  natsStatus s = kvStore_Watch(&state->watcher, (*kv)->kv, keys.c_str(), nullptr);
  if (s != NATS_OK) return NatsToStatus(s, state->what);
  return std::unique_ptr<Watcher>(new Watcher(std::move(state)));
}

const std::string& KeyValue::bucket() const { return state_->bucket; }

}  // namespace sa::bus
