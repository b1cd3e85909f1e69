#include "runtime/nats_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sa::runtime {

absl::StatusOr<std::unique_ptr<NatsClient>> NatsClient::Start(
    const streamadmin::config::v1::NatsConfig& config,
    std::vector<streamadmin::config::v1::StreamConfig> streams) {
  std::unique_ptr<NatsClient> self(new NatsClient());
  self->streams_ = std::move(streams);
  for (auto& s : self->streams_)
    if (s.replicas() == 0) s.set_replicas(std::max<uint32_t>(1, config.stream_replicas()));
  auto conn = bus::Connection::Connect(config);  // returns at once; reconnects in the background
  if (!conn.ok()) return conn.status();
  self->connection_ = std::move(*conn);
  auto js = bus::JetStream::Create(*self->connection_);
  if (!js.ok()) return js.status();
  self->jetstream_ = std::move(*js);
  self->setup_ = std::thread([s = self.get()] { s->SetupLoop(); });
  return self;
}

NatsClient::~NatsClient() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (setup_.joinable()) setup_.join();
  jetstream_.reset();
  if (connection_) connection_->Close();
}

void NatsClient::SetupLoop() {
  absl::Duration backoff = absl::Milliseconds(100);
  size_t next = 0;  // streams before `next` are ensured
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
    }
    if (!connection_->WaitConnected(absl::Milliseconds(500))) continue;
    absl::Status st;
    for (; next < streams_.size(); ++next) {
      st = jetstream_->EnsureStream(streams_[next]);
      if (!st.ok()) break;
      spdlog::info("stream {} ready (subjects {})", streams_[next].name(),
                   absl::StrJoin(streams_[next].subjects(), ", "));
    }
    if (next == streams_.size()) {
      {
        std::lock_guard lock(mu_);
        last_error_.clear();
      }
      streams_ready_ = true;
      cv_.notify_all();
      return;
    }
    spdlog::warn("cannot ensure stream {} yet, retrying in {}: {}", streams_[next].name(),
                 absl::FormatDuration(backoff), std::string(st.message()));
    std::unique_lock lock(mu_);
    last_error_ = std::string(st.message());
    // Waits on the stop condition, so shutdown never waits out a backoff.
    cv_.wait_for(lock, absl::ToChronoMilliseconds(backoff), [this] { return stopping_; });
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

bool NatsClient::WaitReady(absl::Duration timeout) {
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return streams_ready_.load() || stopping_; }))
      return false;
  }
  return connection_->WaitConnected(timeout);
}

streamadmin::control::v1::Dependency NatsClient::Health() const {
  streamadmin::control::v1::Dependency d;
  d.set_name("nats");
  const bool connected = connection_->IsConnected();
  const bool ready = streams_ready_.load();
  d.set_healthy(connected && ready);
  if (!connected) {
    d.set_detail("disconnected; reconnecting");
  } else if (!ready) {
    std::lock_guard lock(mu_);
    d.set_detail(absl::StrCat("connected; streams not ready: ", last_error_));
  } else {
    d.set_detail(absl::StrCat("connected; ", streams_.size(), " stream(s) ready"));
  }
  return d;
}

}  // namespace sa::runtime
