// A scripted md::Decoder for the normalizer's unit tests. A frame's data is
// one command:
//   "book SYM PRICE"    book SYM becomes one bid at PRICE (a BookUpdate snapshot)
//   "trade SYM ID NS"   a trade (ID "-": the venue gives none) at exchange time NS
//   "gap SYM"           book SYM is in doubt: KIND_GAP, a ResyncRequest
//   "bad"               malformed_json;  "old": out_of_order
//   "block"             waits at the Gate until the test releases it
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "marketdata/decode_error.h"
#include "marketdata/decoder.h"
#include "normalizer/pipeline.h"
#include "normalizer/probe.h"
#include "normalizer/raw_input.h"

namespace sa::normalizer::testing {

// Lets a test hold the decoder thread inside a frame and know when it is there.
class Gate {
 public:
  void Enter() {
    std::unique_lock lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return released_; });
  }
  void AwaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

class FakeDecoder final : public md::Decoder {
 public:
  FakeDecoder(std::string venue, Gate* gate) : venue_(std::move(venue)), gate_(gate) {}

  absl::string_view venue() const override { return venue_; }

  absl::Status Decode(const md::RawFrame& frame, md::Sink& sink) override {
    ++stats_.frames;
    std::istringstream in(frame.data.c_str());  // data may carry JSON padding after the text
    std::string cmd, symbol;
    in >> cmd >> symbol;
    namespace mdpb = streamadmin::marketdata::v1;
    if (cmd == "book") {
      std::string price;
      in >> price;
      books_[symbol] = price;
      resyncing_.erase(symbol);
      sink.OnBookUpdate(TopOf(symbol, ++versions_[symbol]));
    } else if (cmd == "trade") {
      std::string id;
      int64_t ns = 0;
      in >> id >> ns;
      mdpb::Trade t;
      t.mutable_origin()->set_venue(venue_);
      t.mutable_origin()->set_symbol(symbol);
      t.mutable_origin()->set_exchange_time_ns(ns);
      if (id != "-") t.set_trade_id(id);
      t.mutable_price()->set_value("100");
      t.mutable_size()->set_value("1");
      sink.OnTrade(t);
    } else if (cmd == "gap") {
      resyncing_.insert(symbol);
      mdpb::VenueStatus s;
      s.mutable_origin()->set_venue(venue_);
      s.mutable_origin()->set_symbol(symbol);
      s.set_kind(mdpb::VenueStatus::KIND_GAP);
      sink.OnVenueStatus(s);
      sink.OnResyncRequest(ResyncOf(symbol));
    } else if (cmd == "bad") {
      return md::MakeDecodeError(md::DecodeError::kMalformedJson, "not a command");
    } else if (cmd == "old") {
      return md::MakeDecodeError(md::DecodeError::kOutOfOrder, "frame_seq went back");
    } else if (cmd == "block") {
      gate_->Enter();
    }
    return absl::OkStatus();
  }
  void OnConnectionLost(absl::string_view, absl::string_view, md::Sink&) override {}
  absl::StatusOr<streamadmin::marketdata::v1::BookUpdate> TopLevels(absl::string_view symbol, size_t) const override {
    std::string s(symbol);
    if (!books_.count(s)) return absl::NotFoundError("no such book");
    if (resyncing_.count(s)) return absl::UnavailableError("resyncing");
    return TopOf(s, versions_.at(s));
  }
  std::vector<std::string> BookSymbols() const override {
    std::vector<std::string> out;
    for (auto& [s, p] : books_) out.push_back(s);
    return out;
  }
  std::vector<md::ResyncRequest> PendingResyncs() const override {
    std::vector<md::ResyncRequest> out;
    for (auto& s : resyncing_) out.push_back(ResyncOf(s));
    return out;
  }
  const md::DecoderStats& stats() const override { return stats_; }
  absl::StatusOr<streamadmin::marketdata::v1::BookCheckpoint> ExportBooks() const override {
    streamadmin::marketdata::v1::BookCheckpoint c;
    c.set_venue(venue_);
    for (auto& [s, p] : books_) {
      auto* b = c.add_books();
      b->set_symbol(s);
      auto* l = b->add_bids();
      l->set_price(p);
      l->set_size("1");
      b->set_version(versions_.at(s));
    }
    return c;
  }
  absl::Status ImportBooks(const streamadmin::marketdata::v1::BookCheckpoint& c) override {
    for (auto& b : c.books()) {
      books_[b.symbol()] = b.bids(0).price();
      versions_[b.symbol()] = b.version();
    }
    return absl::OkStatus();
  }

 private:
  streamadmin::marketdata::v1::BookUpdate TopOf(const std::string& symbol, uint64_t version) const {
    streamadmin::marketdata::v1::BookUpdate u;
    u.mutable_origin()->set_venue(venue_);
    u.mutable_origin()->set_symbol(symbol);
    u.set_snapshot(true);
    auto* l = u.add_bids();
    l->mutable_price()->set_value(books_.at(symbol));
    l->mutable_size()->set_value("1");
    u.set_book_version(version);
    return u;
  }
  md::ResyncRequest ResyncOf(const std::string& symbol) const {
    md::ResyncRequest r;
    r.venue = venue_;
    r.symbol = symbol;
    r.reason = "gap";
    return r;
  }

  std::string venue_;
  Gate* gate_;
  md::DecoderStats stats_;
  std::map<std::string, std::string> books_;
  std::map<std::string, uint64_t> versions_;
  std::set<std::string> resyncing_;
};

// Raw frames as a test writes them: owns what a RawInput points at.
class RawFrames {
 public:
  // A frame of `venue` with MD_RAW sequence `seq` and `data` as its command.
  RawFrames& Add(const std::string& venue, uint64_t seq, const std::string& data, uint64_t delivery_count = 1) {
    frames_.push_back(std::make_unique<Frame>(Frame{"md.raw." + venue, data, {}, seq, delivery_count}));
    return *this;
  }
  // The last frame added gets header `key: value`.
  RawFrames& Header(const std::string& key, const std::string& value) {
    frames_.back()->headers.emplace_back(key, value);
    return *this;
  }
  std::vector<RawInput> Inputs() const {
    std::vector<RawInput> out;
    for (auto& f : frames_)
      out.push_back({.subject = &f->subject,
                     .data = &f->data,
                     .headers = &f->headers,
                     .stream_sequence = f->seq,
                     .delivery_count = f->delivery_count});
    return out;
  }

 private:
  struct Frame {
    std::string subject, data;
    bus::Headers headers;
    uint64_t seq, delivery_count;
  };
  std::vector<std::unique_ptr<Frame>> frames_;
};

// A probe on a registry of its own, for one pipeline of a test, so that no
// test sees the counts of another. Lives until the test binary exits.
inline NormalizerProbe* FreshProbe() {
  struct Metrics {
    obs::MetricsRegistry registry;
    NormalizerProbe probe{registry};
  };
  static std::mutex mu;
  static std::deque<Metrics> all;  // entries never move
  std::lock_guard lock(mu);
  return &all.emplace_back().probe;
}

// Pipeline options whose venues "alpha" and "beta" decode through a
// FakeDecoder (held at `gate` when given); any other venue is unknown. The
// probe counts in a registry of its own.
inline Pipeline::Options FakeVenues(Gate* gate = nullptr) {
  Pipeline::Options o;
  o.probe = FreshProbe();
  o.decoder_factory = [gate](const std::string& venue) -> absl::StatusOr<std::unique_ptr<md::Decoder>> {
    if (venue != "alpha" && venue != "beta") return absl::NotFoundError("no decoder for venue '" + venue + "'");
    return std::make_unique<FakeDecoder>(venue, gate);
  };
  return o;
}

}  // namespace sa::normalizer::testing
