#include "trade_oracle.h"

#include <stdio.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "stream_reader.h"

namespace sa::e2e {

namespace mdpb = streamadmin::marketdata::v1;
using nlohmann::json;

namespace {

std::string Key(const std::string& venue, const std::string& symbol, const std::string& id) {
  return absl::StrCat(venue, "|", symbol, "|", id);
}

// "1618678133.0205" -> "1618678133020500000" (exact: text, not a double).
std::string KrakenTimeNs(const std::string& t) {
  const size_t dot = t.find('.');
  std::string secs = t.substr(0, dot), frac = dot == std::string::npos ? "" : t.substr(dot + 1);
  frac.resize(9, '0');
  std::string out = secs + frac;
  out.erase(0, std::min(out.find_first_not_of('0'), out.size() - 1));
  return out;
}

std::string KrakenKey(const std::string& pair, const std::string& price, const std::string& volume,
                      const std::string& time_ns, const std::string& side) {
  return Key("kraken", pair, absl::StrCat(price, "@", volume, "@", time_ns, "@", side));
}

void FromFrame(const std::string& venue, const json& f, TradeMultiset* out) {
  auto once = [&](const std::string& key) { (*out)[key] = 1; };
  if (venue == "coinbase") {
    if (!f.is_object() || f.value("channel", "") != "market_trades" || !f.contains("events")) return;
    for (const auto& e : f["events"])
      for (const auto& t : e.value("trades", json::array()))
        once(Key(venue, t.at("product_id").get<std::string>(), t.at("trade_id").get<std::string>()));
  } else if (venue == "coinbase-exchange") {
    if (!f.is_object()) return;
    const std::string type = f.value("type", "");
    if (type != "match" && type != "last_match") return;
    once(Key(venue, f.at("product_id").get<std::string>(), std::to_string(f.at("trade_id").get<uint64_t>())));
  } else if (venue == "binance") {
    const json& d = f.is_object() && f.contains("data") ? f["data"] : f;
    if (!d.is_object() || d.value("e", "") != "aggTrade") return;
    once(Key(venue, d.at("s").get<std::string>(), std::to_string(d.at("a").get<uint64_t>())));
  } else if (venue == "kraken") {
    // [channelID, [[price, volume, time, side, type, misc], ...], "trade", "XBT/USD"]
    if (!f.is_array() || f.size() < 4 || !f[f.size() - 2].is_string() || f[f.size() - 2] != "trade") return;
    const std::string pair = f.back().get<std::string>();
    for (const auto& t : f[1])
      ++(*out)[KrakenKey(pair, t[0].get<std::string>(), t[1].get<std::string>(),
                         KrakenTimeNs(t[2].get<std::string>()), t[3].get<std::string>())];
  }
}

}  // namespace

absl::StatusOr<TradeMultiset> TradesInRecording(const std::string& path, const std::string& venue) {
  std::unique_ptr<FILE, int (*)(FILE*)> in(popen(absl::StrCat("zstd -dc '", path, "'").c_str(), "r"), pclose);
  if (!in) return absl::InternalError(absl::StrCat("zstd -dc ", path));
  TradeMultiset out;
  std::string line;
  char buf[1 << 16];
  size_t lines = 0;
  auto take = [&](const std::string& l) -> absl::Status {
    if (l.empty()) return absl::OkStatus();
    ++lines;
    json rec = json::parse(l, nullptr, /*allow_exceptions=*/false);
    if (rec.is_discarded()) return absl::DataLossError(absl::StrCat(path, ":", lines, ": not JSON"));
    if (rec.value("t", "") != "recv") return absl::OkStatus();
    json frame = json::parse(rec.value("data", ""), nullptr, false);
    if (frame.is_discarded()) return absl::OkStatus();  // the venue sent garbage; no trade in it
    try {
      FromFrame(venue, frame, &out);
    } catch (const json::exception& e) {
      return absl::DataLossError(absl::StrCat(path, ":", lines, ": ", e.what()));
    }
    return absl::OkStatus();
  };
  while (fgets(buf, sizeof(buf), in.get()) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      if (auto st = take(line); !st.ok()) return st;
      line.clear();
    }
  }
  if (auto st = take(line); !st.ok()) return st;
  if (lines == 0) return absl::NotFoundError(absl::StrCat(path, ": empty or unreadable"));
  return out;
}

std::string TradeKeyOf(const mdpb::Trade& t) {
  const auto& o = t.origin();
  if (o.venue() == "kraken") {
    const char* side = t.side() == mdpb::SIDE_BUY ? "b" : t.side() == mdpb::SIDE_SELL ? "s" : "?";
    return KrakenKey(o.venue_symbol(), t.price().value(), t.size().value(), std::to_string(o.exchange_time_ns()),
                     side);
  }
  return Key(o.venue(), o.venue_symbol(), t.trade_id());
}

std::string DiffTrades(const TradeMultiset& want, const TradeMultiset& got, size_t max_lines) {
  std::string out;
  size_t n = 0, differences = 0;
  auto note = [&](const std::string& k, int w, int g) {
    ++differences;
    if (n++ < max_lines) absl::StrAppend(&out, "  ", k, ": want ", w, ", got ", g, "\n");
  };
  for (const auto& [k, w] : want) {
    auto it = got.find(k);
    const int g = it == got.end() ? 0 : it->second;
    if (g != w) note(k, w, g);
  }
  for (const auto& [k, g] : got)
    if (!want.count(k)) note(k, 0, g);
  if (differences == 0) return "";
  return absl::StrCat(differences, " trades differ:\n", out);
}

std::optional<StoredTrades> ReadStoredTrades(bus::Connection& conn) {
  StoredTrades out;
  for (const auto& m : ReadAll(conn, "MD", "md.trade.>")) {
    mdpb::Trade t;
    if (!t.ParseFromString(m.data)) return std::nullopt;
    ++out.keys[TradeKeyOf(t)];
    out.warehouse_keys.insert(absl::StrCat(t.origin().venue(), "|", t.origin().symbol(), "|",
                                           t.trade_id().empty() ? m.msg_id : t.trade_id()));
    ++out.count;
  }
  return out;
}

}  // namespace sa::e2e
