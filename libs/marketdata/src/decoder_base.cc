#include "internal/decoder_base.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "marketdata/decimal.h"

namespace sa::md::internal {
namespace {

constexpr size_t kArenaBlockBytes = 256 << 10;
constexpr size_t kInitialParserCapacity = 64 << 10;
// Snapshots up to this many levels (Kraken's book-1000, Coinbase Exchange's
// level2: up to ~2,200) are built in the reused update message from pooled
// levels, like updates; bigger ones (Advanced Trade's ~46,000) go on the arena,
// so the pool never keeps more than this many levels (~1 MB).
constexpr size_t kPooledLevels = 4096;

google::protobuf::ArenaOptions ArenaOptionsFor(char* block) {
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = kArenaBlockBytes;
  return options;
}

absl::string_view StateName(BookState state) {
  switch (state) {
    case BookState::kUnsynced: return "has no snapshot yet";
    case BookState::kLive: return "is live";
    case BookState::kResyncing: return "is resyncing";
  }
  return "";
}

}  // namespace

DecoderBase::DecoderBase(std::string venue, const DecoderOptions& options)
    : options_(options),
      venue_(std::move(venue)),
      arena_block_(new char[kArenaBlockBytes]),
      book_arena_(ArenaOptionsFor(arena_block_.get())) {
  // Room for typical frames up front, so the parser does not reallocate each
  // time a frame is a few bytes longer than any before (it still grows for
  // bigger ones, e.g. multi-MB book snapshots).
  if (parser_.allocate(kInitialParserCapacity) != simdjson::SUCCESS) {
    // Not fatal: iterate() allocates on demand and reports its own failure.
  }
}

DecoderBase::~DecoderBase() {
  for (pb::BookLevel* level : spare_levels_) delete level;
}

absl::Status DecoderBase::Decode(const RawFrame& frame, Sink& sink) {
  ++stats_.frames;
  absl::Status status = [&]() -> absl::Status {
    if (frame.data.size() > options_.max_frame_bytes) {
      return Error(frame, DecodeError::kOversized,
                   absl::StrCat("frame of ", frame.data.size(), " bytes exceeds the limit of ",
                                options_.max_frame_bytes));
    }
    if (options_.check_frame_seq && frame.frame_seq != 0) {
      auto it = last_frame_seq_.find(frame.conn);
      if (it == last_frame_seq_.end()) {
        last_frame_seq_.emplace(frame.conn, frame.frame_seq);
      } else if (frame.frame_seq == it->second + 1) {
        it->second = frame.frame_seq;
      } else if (frame.frame_seq == 1) {
        // A restarted ingest reusing the conn id: this is a new connection.
        const uint64_t last = it->second;
        OnConnectionLost(frame.conn, absl::StrCat("restarted (frame seq 1 after ", last, ")"),
                         sink);  // forgets the conn's entry
        last_frame_seq_.emplace(frame.conn, 1);
      } else if (frame.frame_seq <= it->second) {
        return Error(frame, DecodeError::kOutOfOrder,
                     absl::StrCat("frame seq does not advance (last was ", it->second, ")"));
      } else {
        const uint64_t expected = it->second + 1;
        it->second = frame.frame_seq;
        InvalidateConn(frame.conn, pb::VenueStatus::KIND_GAP, "gap",
                       absl::StrCat("frames lost before the decoder: expected frame seq ",
                                    expected, ", got ", frame.frame_seq),
                       expected, frame.frame_seq, &frame, sink);
      }
    }
    // Every venue message is an object or an array. On demand parsing is lazy
    // about a bare scalar ("this is not json" starts like `true`), so anything
    // else is checked whole here - the rare path - to tell garbage from JSON.
    size_t first = 0;  // a plain loop: frames start with '{' or '['
    while (first < frame.data.size() && (frame.data[first] == ' ' || frame.data[first] == '\t' ||
                                         frame.data[first] == '\r' || frame.data[first] == '\n')) {
      ++first;
    }
    if (first == frame.data.size()) return Error(frame, DecodeError::kTruncated, "empty frame");
    if (frame.data[first] != '{' && frame.data[first] != '[') {
      simdjson::dom::parser validator;
      if (auto error = validator.parse(frame.data).error()) return JsonError(frame, error, "frame");
      return Error(frame, DecodeError::kUnknownMessage, "a bare JSON scalar, not an object or array");
    }
    od::document doc;
    if (auto error = parser_.iterate(input_.View(frame.data)).get(doc)) {
      return JsonError(frame, error, "frame");
    }
    return DecodeDocument(frame, doc, sink);
  }();
  if (!status.ok()) ++stats_.errors;
  return status;
}

absl::Status DecoderBase::CheckLevel(const RawFrame& frame, absl::string_view what, std::string_view price,
                                     std::string_view size, OrderBook::ParsedLevel* parsed) {
  OrderBook::ParsedLevel level;
  if (OrderBook::ParseLevel(AV(price), AV(size), &level)) {
    if (parsed != nullptr) *parsed = level;
    return absl::OkStatus();
  }
  return Error(frame, DecodeError::kBadValue, absl::StrCat(what, " \"", AV(price), "\" \"", AV(size), "\""));
}

absl::Status DecoderBase::Error(const RawFrame& frame, DecodeError error,
                                absl::string_view what) {
  return MakeDecodeError(error,
                         absl::StrCat(venue_, " frame ", frame.frame_seq, " on ", frame.conn, ": ",
                                      what));
}

absl::Status DecoderBase::JsonError(const RawFrame& frame, simdjson::error_code error,
                                    absl::string_view where) {
  return Error(frame, ClassifyJsonError(error),
               absl::StrCat(where, ": ", simdjson::error_message(error)));
}

void DecoderBase::FillOrigin(pb::Origin* origin, const RawFrame& frame, absl::string_view symbol,
                             absl::string_view venue_symbol, int64_t exchange_time_ns) const {
  origin->mutable_venue()->assign(venue_);
  origin->mutable_symbol()->assign(symbol.data(), symbol.size());
  origin->mutable_venue_symbol()->assign(venue_symbol.data(), venue_symbol.size());
  origin->set_exchange_time_ns(exchange_time_ns);
  origin->set_receive_time_ns(frame.recv_time_ns);
  origin->mutable_conn()->assign(frame.conn);
  origin->set_frame_seq(frame.frame_seq);
}

ResyncRequest DecoderBase::Resubscribe(std::string channel, int depth) {
  ResyncRequest request;
  request.action = ResyncRequest::Action::kResubscribe;
  request.channel = std::move(channel);
  request.depth = depth;
  return request;
}

void DecoderBase::ReplaceLevels(OrderBook& book, absl::Span<const LevelView> levels) {
  book.Clear();
  for (const LevelView& level : levels) book.SetParsed(level.side, level.parsed, AV(level.price), AV(level.size));
}

void DecoderBase::ApplyLevels(OrderBook& book, absl::Span<const LevelView> levels, pb::BookUpdate& update) {
  for (const LevelView& level : levels) {
    book.SetParsed(level.side, level.parsed, AV(level.price), AV(level.size));
    pb::BookLevel* out = AddLevel(update, level.side);
    SetDecimal(out->mutable_price(), level.price);
    SetDecimal(out->mutable_size(), level.size);
  }
}

pb::BookLevel* DecoderBase::AddLevel(pb::BookUpdate& update, BookSide side) {
  auto* levels = side == BookSide::kBid ? update.mutable_bids() : update.mutable_asks();
  if (&update != &update_ || spare_levels_.empty()) return levels->Add();
  pb::BookLevel* level = spare_levels_.back();
  spare_levels_.pop_back();
  levels->AddAllocated(level);
  return level;
}

void DecoderBase::EmitTicker(const RawFrame& frame, absl::string_view symbol, absl::string_view venue_symbol,
                             int64_t exchange_time_ns, const TickerTexts& texts, Sink& sink) {
  FillOrigin(ticker_.mutable_origin(), frame, symbol, venue_symbol, exchange_time_ns);
  SetDecimal(ticker_.mutable_bid_price(), texts.bid);
  SetDecimal(ticker_.mutable_bid_size(), texts.bid_size);
  SetDecimal(ticker_.mutable_ask_price(), texts.ask);
  SetDecimal(ticker_.mutable_ask_size(), texts.ask_size);
  SetDecimal(ticker_.mutable_last_price(), texts.last);
  SetDecimal(ticker_.mutable_volume_24h(), texts.volume_24h);
  EmitTicker(sink);
}

TrackedBook& DecoderBase::GetBook(absl::string_view symbol, absl::string_view venue_symbol) {
  auto it = books_.find(symbol);
  if (it != books_.end()) return *it->second;
  auto book = std::make_unique<TrackedBook>();
  book->symbol = std::string(symbol);
  book->venue_symbol = std::string(venue_symbol);
  TrackedBook& ref = *book;
  books_.emplace(std::string(symbol), std::move(book));
  return ref;
}

TrackedBook* DecoderBase::FindBook(absl::string_view symbol) {
  auto it = books_.find(symbol);
  return it == books_.end() ? nullptr : it->second.get();
}

pb::BookUpdate& DecoderBase::StartBookUpdate(const TrackedBook& book, const RawFrame& frame,
                                             bool snapshot, uint64_t sequence,
                                             int64_t exchange_time_ns) {
  if (snapshot && book.book.size(BookSide::kBid) + book.book.size(BookSide::kAsk) > kPooledLevels) {
    book_arena_.Reset();
    book_update_ = google::protobuf::Arena::CreateMessage<pb::BookUpdate>(&book_arena_);
  } else {
    for (auto* levels : {update_.mutable_bids(), update_.mutable_asks()}) {
      const size_t spare = spare_levels_.size();
      spare_levels_.resize(spare + static_cast<size_t>(levels->size()));
      // A heap message: the levels are handed over as they are, not copied.
      levels->UnsafeArenaExtractSubrange(0, levels->size(), spare_levels_.data() + spare);
    }
    while (spare_levels_.size() > kPooledLevels) {
      delete spare_levels_.back();
      spare_levels_.pop_back();
    }
    book_update_ = &update_;
  }
  FillOrigin(book_update_->mutable_origin(), frame, book.symbol, book.venue_symbol,
             exchange_time_ns);
  book_update_->set_snapshot(snapshot);
  book_update_->set_sequence(sequence);
  return *book_update_;
}

void DecoderBase::PublishBookUpdate(TrackedBook& book, Sink& sink) {
  if (book.state != BookState::kLive) {
    // A book that is not known right must never be published.
    std::fprintf(stderr, "sa::md: publishing %s book %s that %s\n", venue_.c_str(),
                 book.symbol.c_str(), std::string(StateName(book.state)).c_str());
    std::abort();
  }
  book_update_->set_book_version(++book.version);
  ++stats_.book_updates;
  if (book_update_->snapshot()) ++stats_.book_snapshots;
  sink.OnBookUpdate(*book_update_);
}

void DecoderBase::PublishSnapshot(TrackedBook& book, const RawFrame& frame, uint64_t sequence,
                                  int64_t exchange_time_ns, Sink& sink) {
  pb::BookUpdate& update = StartBookUpdate(book, frame, /*snapshot=*/true, sequence,
                                           exchange_time_ns);
  for (BookSide side : {BookSide::kBid, BookSide::kAsk}) {
    (side == BookSide::kBid ? update.mutable_bids() : update.mutable_asks())
        ->Reserve(static_cast<int>(book.book.size(side)));
    book.book.ForEachLevel(side, book.book.size(side), [&](const OrderBook::Level& level) {
      pb::BookLevel* out = AddLevel(update, side);
      SetDecimal(out->mutable_price(), level.price);
      SetDecimal(out->mutable_size(), level.size);
    });
  }
  PublishBookUpdate(book, sink);
}

void DecoderBase::EmitStatus(const TrackedBook* book, absl::string_view conn,
                             const RawFrame* frame, pb::VenueStatus::Kind kind,
                             absl::string_view detail, uint64_t expected, uint64_t received,
                             Sink& sink) {
  status_.Clear();
  pb::Origin* origin = status_.mutable_origin();
  origin->set_venue(venue_);
  if (book != nullptr) {
    origin->set_symbol(book->symbol);
    origin->set_venue_symbol(book->venue_symbol);
  }
  origin->set_conn(std::string(conn));
  if (frame != nullptr) {
    origin->set_receive_time_ns(frame->recv_time_ns);
    if (frame->conn == conn) origin->set_frame_seq(frame->frame_seq);
  }
  status_.set_kind(kind);
  status_.set_detail(std::string(detail));
  status_.set_expected_sequence(expected);
  status_.set_received_sequence(received);
  ++stats_.statuses;
  if (kind == pb::VenueStatus::KIND_GAP) ++stats_.gaps;
  if (kind == pb::VenueStatus::KIND_CHECKSUM_MISMATCH) ++stats_.checksum_mismatches;
  if (kind == pb::VenueStatus::KIND_RESYNCED) ++stats_.resyncs_completed;
  sink.OnVenueStatus(status_);
}

void DecoderBase::RaiseResyncRequest(TrackedBook& book, absl::string_view reason, Sink& sink) {
  ResyncRequest request = MakeResyncRequest(book);
  request.venue = venue_;
  request.conn = book.conn;
  request.symbol = book.symbol;
  request.venue_symbol = book.venue_symbol;
  request.reason = std::string(reason);
  book.request = std::move(request);
  book.resync_requested = true;
  sink.OnResyncRequest(book.request);
}

void DecoderBase::GoLiveWithSnapshot(TrackedBook& book, const RawFrame& frame, uint64_t sequence,
                                     int64_t exchange_time_ns, Sink& sink) {
  const bool was_resyncing = book.state == BookState::kResyncing;
  book.state = BookState::kLive;
  book.resync_requested = false;
  book.sequence = sequence;
  PublishSnapshot(book, frame, sequence, exchange_time_ns, sink);
  if (was_resyncing) {
    EmitStatus(&book, book.conn, &frame, pb::VenueStatus::KIND_RESYNCED, "snapshot applied", 0,
               0, sink);
  }
}

void DecoderBase::Invalidate(TrackedBook& book, pb::VenueStatus::Kind kind,
                             absl::string_view reason, absl::string_view detail,
                             uint64_t expected, uint64_t received, const RawFrame* frame,
                             Sink& sink) {
  if (book.state == BookState::kResyncing) return;
  book.state = BookState::kResyncing;
  OnInvalidated(book);
  if (kind != pb::VenueStatus::KIND_UNSPECIFIED) {
    EmitStatus(&book, book.conn, frame, kind, detail, expected, received, sink);
  }
  EmitStatus(&book, book.conn, frame, pb::VenueStatus::KIND_RESYNCING, detail, expected, received,
             sink);
  RaiseResyncRequest(book, reason, sink);
}

void DecoderBase::InvalidateConn(absl::string_view conn, pb::VenueStatus::Kind kind,
                                 absl::string_view reason, absl::string_view detail,
                                 uint64_t expected, uint64_t received, const RawFrame* frame,
                                 Sink& sink) {
  bool any = false;
  for (auto& [symbol, book] : books_) {
    if (book->conn != conn || book->state == BookState::kResyncing) continue;
    Invalidate(*book, kind, reason, detail, expected, received, frame, sink);
    any = true;
  }
  if (!any && kind != pb::VenueStatus::KIND_UNSPECIFIED) {
    EmitStatus(nullptr, conn, frame, kind, detail, expected, received, sink);
  }
}

void DecoderBase::RequestInitialSync(TrackedBook& book, Sink& sink) {
  if (!book.resync_requested) RaiseResyncRequest(book, "initial", sink);
}

void DecoderBase::OnConnectionLost(absl::string_view conn, absl::string_view detail, Sink& sink) {
  InvalidateConn(conn, pb::VenueStatus::KIND_UNSPECIFIED, "connection_lost",
                 absl::StrCat("connection ", conn, " lost: ", detail), 0, 0, nullptr, sink);
  last_frame_seq_.erase(conn);
  ForgetConnection(conn);
}

absl::StatusOr<pb::BookUpdate> DecoderBase::TopLevels(absl::string_view symbol, size_t n) const {
  auto it = books_.find(symbol);
  if (it == books_.end()) {
    return absl::NotFoundError(absl::StrCat(venue_, " has no book for ", symbol));
  }
  const TrackedBook& book = *it->second;
  if (book.state != BookState::kLive) {
    return absl::UnavailableError(
        absl::StrCat(venue_, " book ", symbol, " ", StateName(book.state)));
  }
  pb::BookUpdate out;
  pb::Origin* origin = out.mutable_origin();
  origin->set_venue(venue_);
  origin->set_symbol(book.symbol);
  origin->set_venue_symbol(book.venue_symbol);
  origin->set_conn(book.conn);
  out.set_snapshot(true);
  out.set_sequence(book.sequence);
  out.set_book_version(book.version);
  const auto add = [](auto* levels) {
    return [levels](const OrderBook::Level& level) {
      pb::BookLevel* out_level = levels->Add();
      out_level->mutable_price()->set_value(level.price);
      out_level->mutable_size()->set_value(level.size);
    };
  };
  book.book.ForEachLevel(BookSide::kBid, n, add(out.mutable_bids()));
  book.book.ForEachLevel(BookSide::kAsk, n, add(out.mutable_asks()));
  return out;
}

std::vector<std::string> DecoderBase::BookSymbols() const {
  std::vector<std::string> symbols;
  for (const auto& [symbol, book] : books_) symbols.push_back(symbol);
  std::sort(symbols.begin(), symbols.end());
  return symbols;
}

std::vector<ResyncRequest> DecoderBase::PendingResyncs() const {
  std::vector<ResyncRequest> out;
  for (const auto& [symbol, book] : books_) {
    if (book->resync_requested) out.push_back(book->request);
  }
  return out;
}

absl::StatusOr<pb::BookCheckpoint> DecoderBase::ExportBooks() const {
  if (!SupportsCheckpoints())
    return absl::UnimplementedError(absl::StrCat(venue_, ": books cannot be checkpointed for this venue"));
  pb::BookCheckpoint out;
  out.set_venue(venue_);
  for (const auto& [symbol, book] : books_) {
    if (book->state != BookState::kLive) continue;  // waits for a snapshot after a restart, as before
    auto* b = out.add_books();
    b->set_symbol(book->symbol);
    b->set_venue_symbol(book->venue_symbol);
    b->set_conn(book->conn);
    b->set_version(book->version);
    b->set_sequence(book->sequence);
    b->set_depth(book->depth);
    for (auto side : {BookSide::kBid, BookSide::kAsk}) {
      auto* levels = side == BookSide::kBid ? b->mutable_bids() : b->mutable_asks();
      book->book.ForEachLevel(side, book->book.size(side), [&](const OrderBook::Level& l) {
        auto* level = levels->Add();
        level->set_price(l.price);
        level->set_size(l.size);
      });
    }
  }
  for (const auto& [conn, seq] : last_frame_seq_) (*out.mutable_last_frame_seq())[conn] = seq;
  ExportConnState(&out);
  return out;
}

absl::Status DecoderBase::ImportBooks(const pb::BookCheckpoint& checkpoint) {
  if (!SupportsCheckpoints())
    return absl::UnimplementedError(absl::StrCat(venue_, ": books cannot be checkpointed for this venue"));
  if (checkpoint.venue() != venue_)
    return absl::InvalidArgumentError(
        absl::StrCat("book checkpoint of venue '", checkpoint.venue(), "' given to the ", venue_, " decoder"));
  // Built apart first: a bad level imports nothing.
  std::vector<std::unique_ptr<TrackedBook>> books;
  for (const auto& b : checkpoint.books()) {
    if (b.symbol().empty())
      return absl::InvalidArgumentError(absl::StrCat(venue_, " book checkpoint: a book without a symbol"));
    auto book = std::make_unique<TrackedBook>();
    book->symbol = b.symbol();
    book->venue_symbol = b.venue_symbol();
    book->conn = b.conn();
    book->version = b.version();
    book->sequence = b.sequence();
    book->depth = b.depth();
    book->state = BookState::kLive;
    for (auto side : {BookSide::kBid, BookSide::kAsk}) {
      for (const auto& l : side == BookSide::kBid ? b.bids() : b.asks()) {
        if (absl::Status st = book->book.Set(side, l.price(), l.size()); !st.ok())
          return absl::InvalidArgumentError(
              absl::StrCat(venue_, " book checkpoint of ", b.symbol(), ": ", st.message()));
      }
    }
    books.push_back(std::move(book));
  }
  for (auto& book : books) {
    std::string symbol = book->symbol;
    books_[symbol] = std::move(book);
  }
  for (const auto& [conn, seq] : checkpoint.last_frame_seq()) last_frame_seq_[conn] = seq;
  ImportConnState(checkpoint);
  return absl::OkStatus();
}

}  // namespace sa::md::internal
