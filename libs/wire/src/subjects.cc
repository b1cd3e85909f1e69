#include "wire/subjects.h"

namespace sa::wire {

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// `prefix` (ending in '.') followed by `tokens` separated by '.'.
std::string Join(std::string_view prefix, std::initializer_list<std::string_view> tokens) {
  std::string out(prefix);
  bool first = true;
  for (auto t : tokens) {
    if (!first) out += '.';
    first = false;
    out.append(t.data(), t.size());
  }
  return out;
}

std::string Prefixed(std::string_view prefix, std::string_view rest) {
  std::string out(prefix);
  out.append(rest.data(), rest.size());
  return out;
}

}  // namespace

std::string RawSubject(std::string_view venue) { return Prefixed(kRawPrefix, venue); }
std::string TradeSubject(std::string_view venue, std::string_view symbol) {
  return Join(kTradePrefix, {venue, symbol});
}
std::string TickerSubject(std::string_view venue, std::string_view symbol) {
  return Join(kTickerPrefix, {venue, symbol});
}
std::string BookSubject(std::string_view venue, std::string_view symbol) { return Join(kBookPrefix, {venue, symbol}); }
std::string CandleSubject(std::string_view interval, std::string_view venue, std::string_view symbol) {
  return Join(kCandlePrefix, {interval, venue, symbol});
}
std::string NativeCandleSubject(std::string_view interval, std::string_view venue, std::string_view symbol) {
  return CandleSubject(Prefixed(kNativeCandleIntervalPrefix, interval), venue, symbol);
}
std::string StatusSubject(std::string_view venue) { return Prefixed(kStatusPrefix, venue); }
std::string SnapshotRequestSubject(std::string_view venue) { return Prefixed(kSnapshotRequestPrefix, venue); }

std::vector<std::string> MdStreamSubjects() { return {kTradeAll, kTickerAll, kBookAll, kCandleAll, kStatusAll}; }

MdKind MdKindOf(std::string_view subject) {
  if (StartsWith(subject, kTradePrefix)) return MdKind::kTrade;
  if (StartsWith(subject, kTickerPrefix)) return MdKind::kTicker;
  if (StartsWith(subject, kBookPrefix)) return MdKind::kBook;
  if (StartsWith(subject, kCandlePrefix)) return MdKind::kCandle;
  if (StartsWith(subject, kStatusPrefix)) return MdKind::kStatus;
  if (StartsWith(subject, kRawPrefix)) return MdKind::kRaw;
  if (StartsWith(subject, kSnapshotRequestPrefix)) return MdKind::kSnapshotRequest;
  return MdKind::kNone;
}

std::string RawVenueOf(std::string_view subject) {
  if (!StartsWith(subject, kRawPrefix)) return "";
  return std::string(subject.substr(sizeof(kRawPrefix) - 1));
}

std::optional<std::string> SnapshotRequestVenueOf(std::string_view subject) {
  if (!StartsWith(subject, kSnapshotRequestPrefix)) return std::nullopt;
  return std::string(subject.substr(sizeof(kSnapshotRequestPrefix) - 1));
}

std::string SubjectToken(std::string_view s) {
  if (s.empty()) return "_";
  std::string out(s);
  for (char& ch : out)
    if (ch == '.' || ch == '*' || ch == '>' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') ch = '_';
  return out;
}

std::string CdcSubject(std::string_view server, std::string_view schema, std::string_view table) {
  return Join(kCdcPrefix, {server, SubjectToken(schema), SubjectToken(table)});
}
std::string CdcWatermarkSubject(std::string_view server) { return Join(kCdcPrefix, {server, "watermark"}); }
std::string CdcHeartbeatSubject(std::string_view server) { return Join(kCdcPrefix, {server, "heartbeat"}); }
bool IsCdcSubject(std::string_view subject) { return StartsWith(subject, kCdcPrefix); }

std::string AnomalySubject(std::string_view venue, std::string_view symbol) {
  return Join(kAnomalyPrefix, {venue, symbol});
}
bool IsAnomalySubject(std::string_view subject) { return StartsWith(subject, kAnomalyPrefix); }

std::string ViewSubject(std::string_view name) { return Prefixed(kViewPrefix, name); }

std::string DlqSubject(std::string_view stage) { return Prefixed(kDlqPrefix, stage); }
std::string ViewDlqSubject(std::string_view name) { return Prefixed(kDlqViewPrefix, name); }

std::string AuditDeniedSubject(std::string_view service) { return Prefixed(kAuditDeniedPrefix, service); }
std::string AuditCallSubject(std::string_view service) { return Prefixed(kAuditCallPrefix, service); }

std::string InboxPrefix(std::string_view user_token) { return Prefixed("_INBOX_", user_token); }

}  // namespace sa::wire
