#include "stream_reader.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "bus/jetstream.h"

namespace sa::e2e {

std::vector<StoredMessage> ReadAll(bus::Connection& conn, const std::string& stream, const std::string& filter) {
  static std::atomic<int> readers{0};
  std::vector<StoredMessage> out;
  auto js = bus::JetStream::Create(conn);
  if (!js.ok()) return out;
  if (!(*js)->GetStreamInfo(stream).ok()) return out;
  streamadmin::config::v1::ConsumerConfig c;
  c.set_stream(stream);
  c.set_durable(absl::StrCat("e2e-reader-", getpid(), "-", ++readers));
  c.set_filter_subject(filter);
  c.set_max_ack_pending(1000000);
  c.set_ack_wait_s(300);
  if (!(*js)->EnsurePullConsumer(c).ok()) return out;
  auto sub = (*js)->PullSubscribe(c);
  if (sub.ok()) {
    while (true) {
      auto msgs = (*sub)->Fetch(2000, absl::Milliseconds(400));
      if (!msgs.ok() || msgs->empty()) break;
      for (auto& m : *msgs) {
        out.push_back({m.subject(), m.msg_id(), m.data(), m.headers(), m.stream_sequence()});
        (void)m.Ack();
      }
    }
  }
  (void)(*js)->DeleteConsumer(stream, c.durable());
  return out;
}

}  // namespace sa::e2e
