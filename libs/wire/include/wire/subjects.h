// Every NATS subject Stream-Admin publishes or subscribes to, built and parsed
// here and nowhere else (the model is Envoy's source/common/http/headers.h:
// one table, every producer and consumer reads it). A service, the CLI and
// the built-in NATS roles name a subject only through this header.
//
// Tokens are NATS subject tokens: a builder does not escape its arguments
// except where noted (CdcSubject maps characters NATS gives a meaning to).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sa::wire {

// ---- Market data (streams MD_RAW and MD) ----
// md.raw.<venue>: a frame as the venue sent it (ingest -> normalizer).
inline constexpr char kRawPrefix[] = "md.raw.";
inline constexpr char kRawAll[] = "md.raw.>";
// md.trade.<venue>.<SYMBOL>, md.ticker..., md.book...: the normalizer's
// canonical messages.
inline constexpr char kTradePrefix[] = "md.trade.";
inline constexpr char kTickerPrefix[] = "md.ticker.";
inline constexpr char kBookPrefix[] = "md.book.";
// md.candle.<1s|1m>.<venue>.<SYMBOL> (built from trades) and
// md.candle.native-<venue's interval>.<venue>.<SYMBOL> (sent by the venue).
inline constexpr char kCandlePrefix[] = "md.candle.";
inline constexpr char kNativeCandleIntervalPrefix[] = "native-";
// md.status.<venue>: gap / checksum / resync / connection events.
inline constexpr char kStatusPrefix[] = "md.status.";
inline constexpr char kTradeAll[] = "md.trade.>";
inline constexpr char kTickerAll[] = "md.ticker.>";
inline constexpr char kBookAll[] = "md.book.>";
inline constexpr char kCandleAll[] = "md.candle.>";
inline constexpr char kStatusAll[] = "md.status.>";
// Everything under md. (raw frames and snapshot requests included).
inline constexpr char kMdAll[] = "md.>";
// md.ctl.snapshot.<venue> (core NATS, normalizer -> ingest): "resync this
// book"; payload = symbol, headers Sa-Action, Sa-Url, Sa-Reason (headers.h).
inline constexpr char kSnapshotRequestPrefix[] = "md.ctl.snapshot.";
inline constexpr char kSnapshotRequestAnyVenue[] = "md.ctl.snapshot.*";
inline constexpr char kSnapshotRequestAll[] = "md.ctl.snapshot.>";

std::string RawSubject(std::string_view venue);
std::string TradeSubject(std::string_view venue, std::string_view symbol);
std::string TickerSubject(std::string_view venue, std::string_view symbol);
std::string BookSubject(std::string_view venue, std::string_view symbol);
std::string CandleSubject(std::string_view interval, std::string_view venue, std::string_view symbol);
std::string NativeCandleSubject(std::string_view interval, std::string_view venue, std::string_view symbol);
std::string StatusSubject(std::string_view venue);
std::string SnapshotRequestSubject(std::string_view venue);

// The subjects of stream MD, in this order: trade, ticker, book, candle, status.
std::vector<std::string> MdStreamSubjects();

// The kind of an md.* subject, by its prefix alone.
enum class MdKind { kNone, kRaw, kTrade, kTicker, kBook, kCandle, kStatus, kSnapshotRequest };
MdKind MdKindOf(std::string_view subject);

// The venue of md.raw.<venue>: "" when `subject` is not under md.raw.
std::string RawVenueOf(std::string_view subject);
// The venue of md.ctl.snapshot.<venue>; nullopt for any other subject.
std::optional<std::string> SnapshotRequestVenueOf(std::string_view subject);

// ---- Change data capture (stream CDC) ----
// cdc.<server>.<schema>.<table>: ChangeEvent; cdc.<server>.watermark:
// Watermark; cdc.<server>.heartbeat (core NATS): JSON.
inline constexpr char kCdcPrefix[] = "cdc.";
inline constexpr char kCdcAll[] = "cdc.>";
// `s` as one subject token: "_" for "", and '.', '*', '>' and whitespace
// replaced by '_' (schema and table names may contain them).
std::string SubjectToken(std::string_view s);
// Schema and table go through SubjectToken; the server name is taken as is.
std::string CdcSubject(std::string_view server, std::string_view schema, std::string_view table);
std::string CdcWatermarkSubject(std::string_view server);
std::string CdcHeartbeatSubject(std::string_view server);
bool IsCdcSubject(std::string_view subject);

// ---- Anomalies (stream ANOMALY) ----
// anomaly.<venue>.<SYMBOL>: Anomaly.
inline constexpr char kAnomalyPrefix[] = "anomaly.";
inline constexpr char kAnomalyAll[] = "anomaly.>";
std::string AnomalySubject(std::string_view venue, std::string_view symbol);
bool IsAnomalySubject(std::string_view subject);

// ---- Views (stream VIEWS, the views service) ----
// view.<name>: a view's output rows.
inline constexpr char kViewPrefix[] = "view.";
inline constexpr char kViewAll[] = "view.>";
std::string ViewSubject(std::string_view name);

// ---- Dead letters (stream DLQ) ----
// dlq.<stage>: input a stage could not handle; payload and headers in
// dead_letter.h / headers.h.
inline constexpr char kDlqPrefix[] = "dlq.";
inline constexpr char kDlqAll[] = "dlq.>";
inline constexpr char kDlqIngest[] = "dlq.ingest";          // raw frames JetStream refused
inline constexpr char kDlqNormalizer[] = "dlq.normalizer";  // raw frames that do not decode
inline constexpr char kDlqCdc[] = "dlq.cdc";                // change events not stored / not applied
inline constexpr char kDlqWarehouse[] = "dlq.warehouse";    // market data the warehouse cannot store
std::string DlqSubject(std::string_view stage);
// dlq.view.<name>: a view's late and undecodable inputs (one subject per
// view, so its owner can watch its own).
inline constexpr char kDlqViewPrefix[] = "dlq.view.";
inline constexpr char kDlqViewAll[] = "dlq.view.>";
std::string ViewDlqSubject(std::string_view name);

// ---- Audit and revocations (core NATS, the admin service subscribes) ----
// sa.audit.denied.<service>: a denied gRPC call; sa.audit.call.<service>: an
// audited call; sa.auth.revoked: a revoked token or key.
inline constexpr char kAuditPrefix[] = "sa.audit.";
inline constexpr char kAuditDeniedPrefix[] = "sa.audit.denied.";
inline constexpr char kAuditCallPrefix[] = "sa.audit.call.";
inline constexpr char kAuditAll[] = "sa.audit.>";
inline constexpr char kAuthRevoked[] = "sa.auth.revoked";
std::string AuditDeniedSubject(std::string_view service);
std::string AuditCallSubject(std::string_view service);

// ---- Inboxes ----
// What a role lists to receive replies (request/reply, JetStream API answers
// and publish acks); credentials replace it with "<InboxPrefix(user)>.>".
inline constexpr char kInboxAll[] = "_INBOX.>";
// nats.c's own inbox prefix (natsInbox_Create), which a custom prefix replaces.
inline constexpr char kNatsInboxPrefix[] = "_INBOX.";
// "_INBOX_<token>": the inbox prefix of one user's clients.
std::string InboxPrefix(std::string_view user_token);

}  // namespace sa::wire
