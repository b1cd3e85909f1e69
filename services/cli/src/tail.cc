#include "cli/tail.h"

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/connection.h"
#include "cli/rpc.h"
#include "streamadmin/anomaly/v1/anomaly.pb.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "wire/subjects.h"

namespace sa::cli {

namespace mdpb = streamadmin::marketdata::v1;

namespace {
std::unique_ptr<google::protobuf::Message> MessageFor(const std::string& subject) {
  switch (wire::MdKindOf(subject)) {
    case wire::MdKind::kTrade:
      return std::make_unique<mdpb::Trade>();
    case wire::MdKind::kTicker:
      return std::make_unique<mdpb::Ticker>();
    case wire::MdKind::kBook:
      return std::make_unique<mdpb::BookUpdate>();
    case wire::MdKind::kCandle:
      return std::make_unique<mdpb::Candle>();
    case wire::MdKind::kStatus:
      return std::make_unique<mdpb::VenueStatus>();
    default:
      break;
  }
  if (wire::IsCdcSubject(subject)) return std::make_unique<streamadmin::cdc::v1::ChangeEvent>();
  if (wire::IsAnomalySubject(subject)) return std::make_unique<streamadmin::anomaly::v1::Anomaly>();
  return nullptr;
}

const char* SideName(mdpb::Side s) {
  return s == mdpb::SIDE_BUY ? "buy" : s == mdpb::SIDE_SELL ? "sell" : "?";
}
}  // namespace

absl::StatusOr<std::string> DescribeMessage(const std::string& subject, const std::string& data) {
  auto msg = MessageFor(subject);
  if (!msg) return data;
  if (!msg->ParseFromString(data))
    return absl::InvalidArgumentError(absl::StrCat(subject, ": payload is not a ", msg->GetTypeName()));
  return ProtoJson(*msg);
}

std::string SummarizeMessage(const std::string& subject, const std::string& data) {
  std::vector<std::string> parts = absl::StrSplit(subject, '.');
  const wire::MdKind kind = wire::MdKindOf(subject);
  if (kind == wire::MdKind::kTrade) {
    mdpb::Trade t;
    if (t.ParseFromString(data))
      return absl::StrCat(t.origin().venue(), " ", t.origin().symbol(), " trade ", t.price().value(), " x ",
                          t.size().value(), " ", SideName(t.side()));
  } else if (kind == wire::MdKind::kBook) {
    mdpb::BookUpdate b;
    if (b.ParseFromString(data)) {
      std::string s = absl::StrCat(b.origin().venue(), " ", b.origin().symbol(), b.snapshot() ? " book snapshot" : " book update",
                                   " v", b.book_version(), " (", b.bids_size(), " bids, ", b.asks_size(), " asks)");
      if (b.bids_size()) absl::StrAppend(&s, " bid ", b.bids(0).price().value(), " x ", b.bids(0).size().value());
      if (b.asks_size()) absl::StrAppend(&s, " ask ", b.asks(0).price().value(), " x ", b.asks(0).size().value());
      return s;
    }
  } else if (kind == wire::MdKind::kCandle) {
    mdpb::Candle c;
    if (c.ParseFromString(data))
      return absl::StrCat(c.origin().venue(), " ", c.origin().symbol(), " candle ", c.interval(), " O ", c.open().value(),
                          " H ", c.high().value(), " L ", c.low().value(), " C ", c.close().value(), " V ",
                          c.volume().value(), c.closed() ? "" : " (open)");
  } else if (kind == wire::MdKind::kStatus) {
    mdpb::VenueStatus s;
    if (s.ParseFromString(data))
      return absl::StrCat(s.origin().venue(), " ", s.origin().symbol(), " ", mdpb::VenueStatus::Kind_Name(s.kind()), " ",
                          s.detail());
  }
  auto json = DescribeMessage(subject, data);
  return json.ok() ? *json : std::string(json.status().message());
}

int RunTail(const TailOptions& o) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  streamadmin::config::v1::NatsConfig cfg;
  cfg.add_servers(o.server);
  cfg.set_name("stream-admin-tail");
  auto conn = bus::Connection::Connect(cfg);
  if (!conn.ok() || !(*conn)->WaitConnected(absl::Seconds(5))) {
    std::fprintf(stderr, "stream-admin tail: cannot connect to %s\n", o.server.c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable cv;
  int seen = 0;
  auto sub = (*conn)->Subscribe(o.subject, [&](const bus::InboundMessage& m) {
    std::string line = o.summary ? SummarizeMessage(m.subject, m.data) : [&] {
      auto d = DescribeMessage(m.subject, m.data);
      return d.ok() ? *d : std::string(d.status().message());
    }();
    std::lock_guard lock(mu);
    std::printf("%s %s\n", m.subject.c_str(), line.c_str());
    std::fflush(stdout);
    if (++seen == o.limit) cv.notify_all();
  });
  if (!sub.ok()) {
    std::fprintf(stderr, "stream-admin tail: %s\n", std::string(sub.status().message()).c_str());
    return 1;
  }
  if (o.limit > 0) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return seen >= o.limit; });
  } else {
    int sig = 0;
    sigwait(&signals, &sig);
  }
  sub->reset();
  return 0;
}

}  // namespace sa::cli
