#include "bus/kv.h"

#include <nats/nats.h>

#include <algorithm>
#include <memory>
#include <mutex>

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
  cfg.TTL = absl::ToInt64Milliseconds(options.ttl);
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
    // Exists with another configuration: use it as it is.
    s = js_KeyValue(&handle->kv, ctx->js.get(), bucket.c_str());
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

const std::string& KeyValue::bucket() const { return state_->bucket; }

}  // namespace sa::bus
