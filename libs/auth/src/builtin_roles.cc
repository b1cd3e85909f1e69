#include "auth/builtin_roles.h"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/crypto.h"
#include "auth/permissions.h"
#include "wire/subjects.h"

namespace sa::auth {
namespace {

namespace adm = streamadmin::admin::v1;

using Subjects = std::vector<std::string>;

adm::Role MakeRole(const char* name, const char* description, std::initializer_list<const char*> perms,
                   const Subjects& pub_allow, const Subjects& pub_deny, const Subjects& sub_allow,
                   const Subjects& sub_deny) {
  adm::Role r;
  r.set_name(name);
  r.set_description(description);
  for (const char* p : perms) {
    std::pair<std::string, std::string> ra = absl::StrSplit(p, absl::MaxSplits(':', 1));
    auto* perm = r.add_permissions();
    perm->set_resource(ra.first);
    perm->set_action(ra.second);
  }
  for (const auto& s : pub_allow) r.mutable_nats()->add_publish_allow(s);
  for (const auto& s : pub_deny) r.mutable_nats()->add_publish_deny(s);
  for (const auto& s : sub_allow) r.mutable_nats()->add_subscribe_allow(s);
  for (const auto& s : sub_deny) r.mutable_nats()->add_subscribe_deny(s);
  return r;
}

Subjects Concat(Subjects a, const Subjects& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The JetStream API subjects (and ack subjects) one service may publish on,
// as nats.c 3.4 calls them against nats-server 2.9.
struct Js {
  Subjects publish;
  Js Api(const std::string& call) && {
    publish.push_back(absl::StrCat("$JS.API.", call));
    return std::move(*this);
  }
  // Read the state of a stream another service owns (no create).
  Js ReadStream(const std::string& stream) && {
    publish.push_back(absl::StrCat("$JS.API.STREAM.INFO.", stream));
    return std::move(*this);
  }
  // Create with its configuration (an identical re-create is how services
  // ensure it) and read its state; no update, delete, purge or message access.
  Js Stream(const std::string& stream) && {
    for (const char* op : {"CREATE", "INFO"}) publish.push_back(absl::StrCat("$JS.API.STREAM.", op, ".", stream));
    return std::move(*this);
  }
  // One durable pull consumer: create (named, with or without its filter
  // subject in the request subject; the pre-2.9 form too), read, delete
  // (a rewind recreates it), fetch, and acknowledge its messages.
  Js Consumer(const std::string& stream, const std::string& durable) && {
    const std::string sd = absl::StrCat(stream, ".", durable);
    for (const char* op : {"CREATE", "DURABLE.CREATE", "INFO", "DELETE", "MSG.NEXT"})
      publish.push_back(absl::StrCat("$JS.API.CONSUMER.", op, ".", sd));
    publish.push_back(absl::StrCat("$JS.API.CONSUMER.CREATE.", sd, ".>"));
    publish.push_back(absl::StrCat("$JS.ACK.", sd, ".>"));
    return std::move(*this);
  }
  // A key-value bucket: its stream (KV_<bucket>), puts and deletes on
  // $KV.<bucket>.>, gets (direct or through the stream's message API).
  Js KeyValue(const std::string& bucket) && {
    const std::string stream = absl::StrCat("KV_", bucket);
    Js self = std::move(*this).Stream(stream);
    self.publish.push_back(absl::StrCat("$KV.", bucket, ".>"));
    self.publish.push_back(absl::StrCat("$JS.API.DIRECT.GET.", stream, ".>"));
    self.publish.push_back(absl::StrCat("$JS.API.DIRECT.GET.", stream));
    self.publish.push_back(absl::StrCat("$JS.API.STREAM.MSG.GET.", stream));
    return self;
  }
  // Watching or listing the keys of a bucket: an ephemeral ordered consumer
  // on KV_<bucket> (create, delete, flow control).
  Js WatchKeyValue(const std::string& bucket) && {
    const std::string stream = absl::StrCat("KV_", bucket);
    Js self = std::move(*this).KeyValue(bucket);
    self.publish.push_back(absl::StrCat("$JS.API.CONSUMER.CREATE.", stream));
    self.publish.push_back(absl::StrCat("$JS.API.CONSUMER.CREATE.", stream, ".>"));
    self.publish.push_back(absl::StrCat("$JS.API.CONSUMER.DELETE.", stream, ".>"));
    self.publish.push_back(absl::StrCat("$JS.FC.", stream, ".>"));
    // nats.c finds the stream of the watched subject by name lookup.
    self.publish.push_back("$JS.API.STREAM.NAMES");
    return self;
  }
  // Every durable of a stream another service owns (read its info, create,
  // delete and fetch from consumers of any name, ack their messages): NATS
  // subjects cannot narrow a name to a prefix such as view_.
  Js AnyConsumer(const std::string& stream) && {
    publish.push_back(absl::StrCat("$JS.API.STREAM.INFO.", stream));
    for (const char* op : {"CREATE", "DURABLE.CREATE", "INFO", "DELETE", "MSG.NEXT"})
      publish.push_back(absl::StrCat("$JS.API.CONSUMER.", op, ".", stream, ".*"));
    publish.push_back(absl::StrCat("$JS.API.CONSUMER.CREATE.", stream, ".*.>"));
    publish.push_back(absl::StrCat("$JS.ACK.", stream, ".*.>"));
    return std::move(*this);
  }
};

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

std::vector<adm::Role> BuiltinRoles() {
  // The JetStream API rights of each service role: its own streams (create
  // and read, never update or delete: an update could add a republish or a
  // source) and its own durable consumers, by the default names
  // (libs/runtime/src/streams.cc, each service's default consumer). A service
  // configured with other stream or durable names needs a role of its own
  // (docs/SECURITY.md).
  const Js ingest = Js().Api("INFO").Stream("MD_RAW").Stream("DLQ");
  // Book checkpoints: the bucket, and the consumers that replay a venue's raw
  // frames after one (the venues whose books are checkpointed); MD_RAW's
  // state says whether a checkpoint's frames are still stored.
  const Js normalizer = Js().Api("INFO")
                            .Stream("MD")
                            .Stream("DLQ")
                            .ReadStream("MD_RAW")
                            .Consumer("MD_RAW", "normalizer")
                            .KeyValue("NORMALIZER_BOOKS")
                            .Consumer("MD_RAW", "normalizer-books-kraken")
                            .Consumer("MD_RAW", "normalizer-books-coinbase");
  const Js cdc_bridge = Js().Api("INFO").Stream("CDC").Stream("DLQ").KeyValue("CDC_SNAPSHOTS");
  // Consumes CDC and MD through its durables; creates only the stream of its
  // dead letters (CDC and MD belong to cdc-bridge and the normalizer).
  const Js warehouse_sink = Js().Api("INFO")
                                .Stream("DLQ")
                                .Consumer("CDC", "warehouse")
                                .Consumer("MD", "warehouse-trades")
                                .Consumer("MD", "warehouse-candles");
  const Js anomaly = Js().Api("INFO").Stream("ANOMALY").Consumer("MD", "anomaly");
  // The views service reads every source stream through durables named
  // view_<name> (one per view, recreated at each checkpoint's position) and
  // keeps its definitions, leases, checkpoints and statuses in KV. It reads
  // on behalf of each view's owner, whose rights it checks itself.
  const Js views = Js().Api("INFO")
                       .Stream("VIEWS")
                       .Stream("DLQ")
                       .AnyConsumer("MD")
                       .AnyConsumer("CDC")
                       .AnyConsumer("ANOMALY")
                       .WatchKeyValue("VIEW_DEFINITIONS")
                       .KeyValue("VIEW_LEASES")
                       .KeyValue("VIEW_CHECKPOINTS")
                       .KeyValue("VIEW_STATUS");
  // The admin writes view definitions and reads their statuses.
  const Js admin = Js().Api("INFO").WatchKeyValue("VIEW_DEFINITIONS").KeyValue("VIEW_STATUS");
  return {
      MakeRole("admin", "everything", {"*:*"}, {">"}, {}, {">"}, {}),
      // The viewer's replies come on its own inbox prefix: NatsCredentials
      // turns "_INBOX.>" into "_INBOX_<user id>.>" for every role.
      MakeRole("viewer", "read everything but the audit log; subscribe to market data and anomalies",
               {"control:read", "ingest:read", "normalizer:read", "cdc:read", "users:read", "roles:read",
                "apikeys:read", "md:read"},
               {}, {">"}, {wire::kMdAll, wire::kAnomalyAll, kInboxSubscription}, {wire::kCdcAll, wire::kRawAll}),
      MakeRole("svc-ingest", "the ingest service", {"control:read"},
               Concat({wire::kRawAll, wire::kDlqIngest, wire::AuditDeniedSubject("ingest"),
                       wire::AuditCallSubject("ingest")},
                      ingest.publish),
               {}, {kInboxSubscription, wire::kSnapshotRequestAll, wire::kAuthRevoked}, {}),
      MakeRole("svc-normalizer", "the normalizer service", {"control:read"},
               Concat({wire::kTradeAll, wire::kTickerAll, wire::kBookAll, wire::kCandleAll, wire::kStatusAll,
                       wire::kSnapshotRequestAll, wire::kDlqNormalizer, wire::AuditDeniedSubject("normalizer"),
                       wire::AuditCallSubject("normalizer")},
                      normalizer.publish),
               {}, {kInboxSubscription, wire::kAuthRevoked}, {}),
      MakeRole("svc-cdc-bridge", "the cdc-bridge service", {"control:read"},
               Concat({wire::kCdcAll, wire::kDlqCdc, wire::AuditDeniedSubject("cdc-bridge"),
                       wire::AuditCallSubject("cdc-bridge")},
                      cdc_bridge.publish),
               {}, {kInboxSubscription, wire::kAuthRevoked}, {}),
      // dlq.cdc: change events the warehouse cannot take; dlq.warehouse:
      // market data it cannot take.
      MakeRole("svc-warehouse-sink", "the warehouse-sink service", {"control:read"},
               Concat({wire::kDlqCdc, wire::kDlqWarehouse, wire::AuditDeniedSubject("warehouse-sink"),
                       wire::AuditCallSubject("warehouse-sink")},
                      warehouse_sink.publish),
               {}, {kInboxSubscription, wire::kAuthRevoked}, {}),
      MakeRole("svc-anomaly", "the anomaly service", {"control:read"},
               Concat({wire::kAnomalyAll, wire::AuditDeniedSubject("anomaly"), wire::AuditCallSubject("anomaly")},
                      anomaly.publish),
               {}, {wire::kMdAll, kInboxSubscription, wire::kAuthRevoked}, {}),
      MakeRole("svc-views", "the views service", {"control:read"},
               Concat({wire::kViewAll, wire::kDlqViewAll, wire::AuditDeniedSubject("views"),
                       wire::AuditCallSubject("views")},
                      views.publish),
               {}, {kInboxSubscription, wire::kAuthRevoked}, {}),
      MakeRole("svc-admin", "the admin service", {"control:read"}, Concat({wire::kAuthRevoked}, admin.publish), {},
               {wire::kAuditAll, kInboxSubscription, wire::kAuthRevoked}, {}),
  };
}

nkeys::Permissions NatsPermissionsOf(const std::vector<adm::Role>& roles) {
  nkeys::Permissions p;
  for (const auto& r : roles) {
    for (const auto& s : r.nats().publish_allow()) AddUnique(&p.pub_allow, s);
    for (const auto& s : r.nats().publish_deny()) AddUnique(&p.pub_deny, s);
    for (const auto& s : r.nats().subscribe_allow()) AddUnique(&p.sub_allow, s);
    for (const auto& s : r.nats().subscribe_deny()) AddUnique(&p.sub_deny, s);
    // Continuous views: a role that may read views subscribes to their
    // outputs (views:read: all of them; view.<name>:read: that one).
    for (const auto& perm : r.permissions()) {
      const std::string granted = absl::StrCat(perm.resource(), ":", perm.action());
      if (PermissionCovers(granted, "views:read")) {
        AddUnique(&p.sub_allow, wire::kViewAll);
      } else if (absl::StartsWith(perm.resource(), wire::kViewPrefix) &&
                 perm.resource().size() > sizeof(wire::kViewPrefix) - 1 &&
                 perm.resource().find_first_of("*>", sizeof(wire::kViewPrefix) - 1) == std::string::npos &&
                 (perm.action() == "read" || perm.action() == "*")) {
        AddUnique(&p.sub_allow, perm.resource());
      }
    }
  }
  return p;
}

std::string InboxPrefixFor(const std::string& user_id) {
  const bool safe = !user_id.empty() && user_id.size() <= 64 && std::all_of(user_id.begin(), user_id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return wire::InboxPrefix(safe ? user_id : Sha256Hex(user_id).substr(0, 16));
}

nkeys::Permissions WithInboxPrefix(nkeys::Permissions perms, const std::string& inbox_prefix) {
  for (auto& s : perms.sub_allow) {
    if (s == kInboxSubscription) s = absl::StrCat(inbox_prefix, ".>");
  }
  return perms;
}

}  // namespace sa::auth
