#include "normalizer/grpc_service.h"

#include "common/status.h"

namespace sa::normalizer {

namespace pb = streamadmin::normalizer::v1;

grpc::Status NormalizerService::GetBook(grpc::ServerContext*, const pb::GetBookRequest* req,
                                        pb::GetBookResponse* resp) {
  auto top = pipeline_.TopLevels(req->venue(), req->symbol(), req->depth() ? req->depth() : kDefaultDepth);
  resp->set_venue(req->venue());
  resp->set_symbol(req->symbol());
  if (!top.ok()) {
    if (top.status().code() == absl::StatusCode::kUnavailable) {
      resp->set_valid(false);  // resyncing: no levels are served
      return grpc::Status::OK;
    }
    return ToGrpcStatus(top.status());
  }
  resp->set_valid(true);
  *resp->mutable_bids() = top->bids();
  *resp->mutable_asks() = top->asks();
  resp->set_sequence(top->sequence());
  resp->set_book_version(top->book_version());
  return grpc::Status::OK;
}

grpc::Status NormalizerService::ListGaps(grpc::ServerContext*, const pb::ListGapsRequest* req,
                                         pb::ListGapsResponse* resp) {
  for (auto& s : pipeline_.RecentStatus(req->limit() ? req->limit() : kDefaultGapLimit))
    *resp->add_events() = std::move(s);
  return grpc::Status::OK;
}

grpc::Status NormalizerService::ListVenues(grpc::ServerContext*, const pb::ListVenuesRequest*,
                                           pb::ListVenuesResponse* resp) {
  for (auto& s : pipeline_.Venues()) {
    auto* v = resp->add_venues();
    v->set_venue(s.venue);
    v->set_frames(s.frames);
    v->set_decode_errors(s.decode_errors);
    v->set_trades(s.trades);
    v->set_book_updates(s.book_updates);
    v->set_books(s.symbols.size());
    v->set_books_resyncing(s.books_resyncing);
    for (auto& sym : s.symbols) v->add_symbols(sym);
  }
  return grpc::Status::OK;
}

}  // namespace sa::normalizer
