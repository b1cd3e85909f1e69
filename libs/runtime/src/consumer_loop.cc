#include "runtime/consumer_loop.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sa::runtime {

namespace {
constexpr absl::Duration kFirstBindBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBindBackoff = absl::Seconds(5);
constexpr absl::Duration kPausedPoll = absl::Milliseconds(50);
}  // namespace

ConsumerLoop::ConsumerLoop(NatsClient& nats, Options options, Handler handler)
    : nats_(&nats), options_(std::move(options)), handler_(std::move(handler)) {}

ConsumerLoop::ConsumerLoop(Options options, Handler handler)
    : nats_(nullptr), options_(std::move(options)), handler_(std::move(handler)) {}

ConsumerLoop::~ConsumerLoop() { Stop(); }

void ConsumerLoop::Start() {
  if (options_.fetch_ahead > 0) {
    fetcher_ = std::thread([this] { RunFetcher(); });
    handler_thread_ = std::thread([this] { RunHandler(); });
  } else {
    handler_thread_ = std::thread([this] { RunInline(); });
  }
}

void ConsumerLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (fetcher_.joinable()) fetcher_.join();
  if (handler_thread_.joinable()) handler_thread_.join();
  sub_.reset();
  bound_ = false;
}

streamadmin::control::v1::Dependency ConsumerLoop::Health() const {
  streamadmin::control::v1::Dependency d;
  d.set_name(options_.name);
  const bool bound = bound_.load();
  d.set_healthy(bound);
  if (bound) {
    d.set_detail(absl::StrCat("bound to ", options_.consumer.stream(), "/", options_.consumer.durable(),
                              paused_ ? " (paused)" : ""));
  } else {
    std::lock_guard lock(mu_);
    d.set_detail(last_error_.empty() ? "not bound yet" : absl::StrCat("not bound yet: ", last_error_));
  }
  return d;
}

std::string ConsumerLoop::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void ConsumerLoop::Pause(absl::Duration d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, absl::ToChronoNanoseconds(d), [&] { return stop_.load(); });
}

absl::StatusOr<std::unique_ptr<bus::PullSubscription>> ConsumerLoop::DefaultBind() {
  const auto& c = options_.consumer;
  if (nats_ == nullptr) return absl::FailedPreconditionError("a ConsumerLoop without a NatsClient needs Options::bind");
  bus::JetStream& js = nats_->jetstream();
  // Taken now, put back if this bind fails: a kRewind that comes meanwhile
  // is not lost.
  const bool rewind = rewind_.exchange(false);
  auto failed = [&](absl::Status st) {
    if (rewind) rewind_ = true;
    return st;
  };
  if (absl::Status st = js.EnsurePullConsumer(c, options_.acks); !st.ok()) return failed(st);
  if (rewind || ((options_.rewind_on_first_bind || options_.acks == bus::AckPolicy::kAll) && !rewound_)) {
    // Deliveries a dead process held come again only after their ack wait,
    // AFTER newer messages: a decoder would see them out of order and the
    // work they carry would be lost (with ack-all, acking the newer ones
    // would ack them unhandled). So the first bind restarts the durable
    // from its ack floor: everything unacked comes again, in stream order
    // (outputs carry deterministic ids, so repeats are stored once). A
    // handler's kRewind does the same after an input it could not handle.
    // Acks sent before (the handler's, before it asked to rewind) reach the
    // server first, so the floor read below counts them.
    if (rewind) (void)nats_->connection().Flush(absl::Seconds(2));
    auto info = js.GetConsumerInfo(c.stream(), c.durable());
    if (!info.ok()) return failed(info.status());
    if (rewind || info->num_ack_pending > 0) {
      spdlog::info("consumer {}/{}: {} deliveries unacknowledged{}; redelivering from stream sequence {}", c.stream(),
                   c.durable(), info->num_ack_pending,
                   rewind ? " (the handler asked to rewind)" : " by an earlier process",
                   info->ack_floor_stream_seq + 1);
      if (absl::Status st = js.RecreatePullConsumerAt(c, info->ack_floor_stream_seq + 1, options_.acks); !st.ok())
        return failed(st);
    }
    rewound_ = true;
  }
  return js.PullSubscribe(c);
}

std::vector<bus::ReceivedMessage> ConsumerLoop::FetchOnce() {
  if ((rebind_.exchange(false) || rewind_.load()) && sub_) {
    sub_.reset();
    bound_ = false;
  }
  if (!sub_) {
    if (nats_ != nullptr && !nats_->WaitReady(absl::Milliseconds(200))) return {};
    auto sub = options_.bind ? options_.bind() : DefaultBind();
    if (!sub.ok()) {
      const std::string why(sub.status().message());
      if (why != last_bind_error_logged_)
        spdlog::warn("consumer {}/{} not ready: {}", options_.consumer.stream(), options_.consumer.durable(), why);
      last_bind_error_logged_ = why;
      {
        std::lock_guard lock(mu_);
        last_error_ = why;
      }
      Pause(bind_backoff_);  // retry pacing, not synchronisation
      bind_backoff_ = std::min(bind_backoff_ * 2, kMaxBindBackoff);
      return {};
    }
    sub_ = std::move(*sub);
    bind_backoff_ = kFirstBindBackoff;
    last_bind_error_logged_.clear();
    {
      std::lock_guard lock(mu_);
      last_error_.clear();
    }
    bound_ = true;
    spdlog::info("consuming {} through durable {}", options_.consumer.stream(), options_.consumer.durable());
  }
  if (paused_ || absl::ToUnixNanos(absl::Now()) < back_off_until_ns_.load()) {
    Pause(kPausedPoll);
    return {};
  }
  if (options_.wait_for_room && !options_.wait_for_room(options_.fetch_wait)) return {};
  auto msgs = sub_->Fetch(sub_->fetch_batch(), options_.fetch_wait);
  if (!msgs.ok()) {
    // Bind again (after a server restart the old subscription may be gone);
    // what was fetched and not acked is redelivered.
    spdlog::warn("consumer {}/{}: fetch: {}", options_.consumer.stream(), options_.consumer.durable(),
                 std::string(msgs.status().message()));
    {
      std::lock_guard lock(mu_);
      last_error_ = std::string(msgs.status().message());
    }
    sub_.reset();
    bound_ = false;
    return {};
  }
  fetched_ += msgs->size();
  return std::move(*msgs);
}

void ConsumerLoop::Handle(std::vector<bus::ReceivedMessage>& batch) {
  if (ended_) return;  // fetched ahead after kStop: dropped (never acked)
  switch (handler_(batch)) {
    case Next::kFetch:
      break;
    case Next::kBackOff:
      back_off_until_ns_ = absl::ToUnixNanos(absl::Now() + options_.back_off);
      break;
    case Next::kRebind:
      rebind_ = true;
      break;
    case Next::kRewind: {
      back_off_until_ns_ = absl::ToUnixNanos(absl::Now() + options_.back_off);
      // Everything fetched ahead comes again from the ack floor: dropped
      // unhandled and unacked.
      std::lock_guard lock(mu_);
      ++rewinds_;
      ahead_.clear();
      ahead_messages_ = 0;
      rewind_ = true;
      break;
    }
    case Next::kStop: {
      ended_ = true;
      {
        std::lock_guard lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      break;
    }
  }
}

void ConsumerLoop::RunInline() {
  while (!stop_) {
    std::vector<bus::ReceivedMessage> batch = FetchOnce();
    if (stop_ && batch.empty()) break;
    Handle(batch);
  }
}

void ConsumerLoop::RunFetcher() {
  uint64_t epoch = 0;
  while (!stop_) {
    {
      // At most fetch_ahead batches wait for the handler.
      const size_t limit = static_cast<size_t>(options_.fetch_ahead) *
                           static_cast<size_t>(sub_ ? sub_->fetch_batch() : bus::kDefaultFetchBatch);
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.fetch_wait),
                        [&] { return stop_ || ahead_messages_ < limit; }))
        continue;
      if (stop_) break;
      epoch = rewinds_;
    }
    std::vector<bus::ReceivedMessage> batch = FetchOnce();
    if (batch.empty()) continue;
    {
      std::lock_guard lock(mu_);
      // Fetched through the durable a handler's kRewind replaced: dropped
      // unhandled (their acks would reach the new durable of the same name).
      if (epoch != rewinds_) continue;
      ahead_messages_ += batch.size();
      ahead_.push_back(std::move(batch));
    }
    cv_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    fetcher_done_ = true;
  }
  cv_.notify_all();
}

void ConsumerLoop::RunHandler() {
  while (true) {
    std::vector<bus::ReceivedMessage> batch;
    bool done = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.fetch_wait),
                   [&] { return !ahead_.empty() || fetcher_done_; });
      if (!ahead_.empty()) {
        // Everything fetched so far becomes one batch.
        batch = std::move(ahead_.front());
        ahead_.pop_front();
        for (; !ahead_.empty(); ahead_.pop_front())
          for (auto& m : ahead_.front()) batch.push_back(std::move(m));
        ahead_messages_ = 0;
      } else {
        done = fetcher_done_;
      }
    }
    if (done) break;   // stopping, and every fetched batch is handled
    cv_.notify_all();  // room for the fetcher
    Handle(batch);
  }
}

}  // namespace sa::runtime
