#include "nats_probe.h"

#include <nats/nats.h>

#include "absl/strings/str_cat.h"

namespace sa::testing {

struct NatsProbeCallbacks {
  static void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<NatsProbe*>(closure);
    NatsProbe::Received r;
    r.subject = natsMsg_GetSubject(msg);
    if (const char* reply = natsMsg_GetReply(msg)) r.reply = reply;
    if (natsMsg_GetDataLength(msg) > 0) r.data.assign(natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
    {
      std::lock_guard lock(self->mu_);
      self->messages_.push_back(std::move(r));
    }
    self->cv_.notify_all();
  }
  static void OnError(natsConnection* nc, natsSubscription*, natsStatus err, void* closure) {
    auto* self = static_cast<NatsProbe*>(closure);
    const char* text = nullptr;
    natsConnection_GetLastError(nc, &text);
    {
      std::lock_guard lock(self->mu_);
      self->errors_.push_back(text != nullptr && *text ? text : natsStatus_GetText(err));
    }
    self->cv_.notify_all();
  }
};

namespace {
absl::Status Check(natsStatus s, const std::string& what) {
  if (s == NATS_OK) return absl::OkStatus();
  if (s == NATS_TIMEOUT) return absl::DeadlineExceededError(what);
  return absl::UnavailableError(absl::StrCat(what, ": ", natsStatus_GetText(s), " ", nats_GetLastError(nullptr)));
}
}  // namespace

absl::StatusOr<std::unique_ptr<NatsProbe>> NatsProbe::Connect(const Options& o) {
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<NatsProbe> self(new NatsProbe());
    self->inbox_prefix_ = o.inbox_prefix.empty() ? "_INBOX" : o.inbox_prefix;
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, o.url.c_str());
    if (s == NATS_OK && !o.name.empty()) s = natsOptions_SetName(opts, o.name.c_str());
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, NatsProbeCallbacks::OnError, self.get());
    if (s == NATS_OK && !o.creds_file.empty())
      s = natsOptions_SetUserCredentialsFromFiles(opts, o.creds_file.c_str(), nullptr);
    if (s == NATS_OK && !o.inbox_prefix.empty()) s = natsOptions_SetCustomInboxPrefix(opts, o.inbox_prefix.c_str());
    if (s == NATS_OK) s = natsConnection_Connect(&self->nc_, opts);
    natsOptions_Destroy(opts);
    last = Check(s, absl::StrCat("connect ", o.name, " to ", o.url));
    if (last.ok()) return self;
  }
  return last;
}

NatsProbe::~NatsProbe() {
  for (natsSubscription* s : subs_) natsSubscription_Destroy(s);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);
  }
}

absl::Status NatsProbe::Publish(const std::string& subject, const std::string& data, const std::string& reply) {
  natsStatus s = reply.empty()
                     ? natsConnection_Publish(nc_, subject.c_str(), data.data(), static_cast<int>(data.size()))
                     : natsConnection_PublishRequest(nc_, subject.c_str(), reply.c_str(), data.data(),
                                                     static_cast<int>(data.size()));
  return Check(s, absl::StrCat("publish ", subject));
}

absl::StatusOr<std::string> NatsProbe::Request(const std::string& subject, const std::string& data,
                                               absl::Duration timeout) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, nc_, subject.c_str(), data.data(), static_cast<int>(data.size()),
                                        absl::ToInt64Milliseconds(timeout));
  if (s != NATS_OK) return Check(s, absl::StrCat("request ", subject));
  std::string out(natsMsg_GetData(reply), natsMsg_GetDataLength(reply));
  natsMsg_Destroy(reply);
  return out;
}

absl::Status NatsProbe::Subscribe(const std::string& subject) {
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_Subscribe(&sub, nc_, subject.c_str(), NatsProbeCallbacks::OnMessage, this);
  if (s == NATS_OK) subs_.push_back(sub);
  return Check(s, absl::StrCat("subscribe ", subject));
}

absl::Status NatsProbe::Flush() { return Check(natsConnection_FlushTimeout(nc_, 5000), "flush"); }

bool NatsProbe::PublishRefused(const std::string& subject, const std::string& data, absl::Duration timeout) {
  if (!Publish(subject, data, absl::StrCat(inbox_prefix_, ".probe.", ++requests_)).ok()) return false;
  (void)Flush();
  return WaitForError(absl::StrCat("Permissions Violation for Publish to \"", subject, "\""), timeout);
}

bool NatsProbe::SubscribeRefused(const std::string& subject, absl::Duration timeout) {
  if (!Subscribe(subject).ok()) return false;
  (void)Flush();
  return WaitForError(absl::StrCat("Permissions Violation for Subscription to \"", subject, "\""), timeout);
}

std::vector<NatsProbe::Received> NatsProbe::Messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

bool NatsProbe::WaitForMessage(const std::function<bool(const Received&)>& pred, absl::Duration timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
    for (const auto& m : messages_) {
      if (pred(m)) return true;
    }
    return false;
  });
}

std::vector<std::string> NatsProbe::Errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

bool NatsProbe::WaitForError(const std::string& needle, absl::Duration timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] {
    for (const auto& e : errors_) {
      if (e.find(needle) != std::string::npos) return true;
    }
    return false;
  });
}

}  // namespace sa::testing
