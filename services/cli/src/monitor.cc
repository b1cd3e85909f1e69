#include "cli/monitor.h"

#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/control_client.h"
#include "cli/rpc.h"
#include "streamadmin/anomaly/v1/anomaly.grpc.pb.h"
#include "streamadmin/normalizer/v1/normalizer.grpc.pb.h"

namespace sa::cli {
namespace {

namespace anpb = streamadmin::anomaly::v1;
namespace npb = streamadmin::normalizer::v1;

// ------------------------------------------------------------ collection ---

struct Sample {
  std::string name;
  std::string labels;  // as exposed, without braces: reason="x",stream="MD"
  double value = 0;
};

// Prometheus text exposition format, enough of it: "name{labels} value [ts]".
std::vector<Sample> ParseMetrics(const std::string& text) {
  std::vector<Sample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t brace = line.find('{'), space;
    if (brace != std::string::npos && brace < line.find(' ')) {
      size_t close = line.rfind('}');
      if (close == std::string::npos) continue;
      s.name = line.substr(0, brace);
      s.labels = line.substr(brace + 1, close - brace - 1);
      space = close + 1;
    } else {
      space = line.find(' ');
      if (space == std::string::npos) continue;
      s.name = line.substr(0, space);
    }
    std::string rest = line.substr(space);
    rest.erase(0, rest.find_first_not_of(' '));
    rest = rest.substr(0, rest.find(' '));
    if (!absl::SimpleAtod(rest, &s.value)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

// The counter whose rate is a service's throughput, and what it counts.
struct ThroughputSpec {
  std::vector<std::string> counters;
  const char* unit;
};
ThroughputSpec ThroughputOf(const std::string& service) {
  if (service == "ingest") return {{"streamadmin_ingest_published_frames_total"}, "raw frames in"};
  if (service == "normalizer") return {{"streamadmin_normalizer_published_total"}, "canonical msgs out"};
  if (service == "cdc-bridge") return {{"streamadmin_cdc_events_total"}, "CDC events"};
  if (service == "warehouse-sink")
    return {{"streamadmin_warehouse_md_rows_total", "streamadmin_cdc_sink_events_applied_total"}, "warehouse rows"};
  if (service == "anomaly") return {{"streamadmin_anomaly_scored_total"}, "events scored"};
  if (service == "views") return {{"streamadmin_views_inputs_total"}, "view inputs"};
  return {{"streamadmin_grpc_server_handled_total"}, "gRPC calls"};
}

struct ServiceView {
  std::string target;
  std::string name;  // from GetStatus; the target while it never answered
  bool up = false;
  std::string state;  // RUNNING, PAUSED, ...; "DOWN"
  std::string readiness;
  std::string why_down;
  bool metrics_ok = false;
  std::vector<Sample> metrics;
  // Throughput history.
  std::optional<double> last_count;
  absl::Time last_at;
  double rate = 0;
  std::deque<double> history;  // per-second rates, newest last
};

struct World {
  std::vector<ServiceView> services;
  std::vector<npb::VenueState> venues;
  std::vector<streamadmin::marketdata::v1::VenueStatus> gaps;
  std::vector<anpb::Anomaly> anomalies;
  std::string venues_error, anomalies_error;
  absl::Time updated;
};

constexpr size_t kHistory = 180;  // three minutes at one sample a second

std::string HostOf(const std::string& target) { return target.substr(0, target.rfind(':')); }
int PortOf(const std::string& target) {
  int port = 0;
  (void)absl::SimpleAtoi(target.substr(target.rfind(':') + 1), &port);
  return port;
}

void Collect(const MonitorOptions& o, World* w) {
  const absl::Time now = absl::Now();
  const CallOptions base{"", o.token, o.credentials, 0.8};
  for (auto& s : w->services) {
    auto st = ControlClient(s.target, absl::Milliseconds(800), o.token, o.credentials).GetStatus();
    s.up = st.ok();
    if (st.ok()) {
      s.name = st->service();
      s.state = StateLabel(st->state());
      s.readiness = "ready";
      for (const auto& d : st->dependencies())
        if (!d.healthy()) s.readiness = absl::StrCat("not ready: ", d.name(), " ", d.detail());
      s.why_down.clear();
    } else {
      s.state = "DOWN";
      s.readiness = "-";
      s.why_down = std::string(st.status().message());
    }
    s.metrics.clear();
    s.metrics_ok = false;
    if (s.up) {
      httplib::Client http(HostOf(s.target), PortOf(s.target) + o.http_offset);
      http.set_connection_timeout(0, 500000);
      http.set_read_timeout(1, 0);
      if (auto res = http.Get("/metrics"); res && res->status == 200) {
        s.metrics = ParseMetrics(res->body);
        s.metrics_ok = true;
      }
    }
    // Rate from the counter's growth since the last sample; a restart (the
    // counter went down) starts over.
    if (s.metrics_ok) {
      double count = 0;
      for (const auto& m : s.metrics)
        for (const auto& c : ThroughputOf(s.name).counters)
          if (m.name == c) count += m.value;
      if (s.last_count && count >= *s.last_count && now > s.last_at)
        s.rate = (count - *s.last_count) / absl::ToDoubleSeconds(now - s.last_at);
      else
        s.rate = 0;
      s.last_count = count;
      s.last_at = now;
    } else {
      s.rate = 0;
      s.last_count.reset();
    }
    s.history.push_back(s.rate);
    while (s.history.size() > kHistory) s.history.pop_front();
  }
  // Books and gaps from the normalizer, anomalies from the anomaly service.
  w->venues.clear();
  w->gaps.clear();
  w->anomalies.clear();
  w->venues_error = "no normalizer among the targets";
  w->anomalies_error = "no anomaly service among the targets";
  for (const auto& s : w->services) {
    if (!s.up) continue;
    CallOptions call = base;
    call.target = s.target;
    if (s.name == "normalizer") {
      auto stub = npb::Normalizer::NewStub(MakeChannel(call));
      npb::ListVenuesResponse venues;
      grpc::Status st = stub->ListVenues(MakeContext(call).get(), npb::ListVenuesRequest(), &venues);
      w->venues_error = st.ok() ? "" : st.error_message();
      w->venues.assign(venues.venues().begin(), venues.venues().end());
      npb::ListGapsRequest req;
      req.set_limit(5);
      npb::ListGapsResponse gaps;
      if (stub->ListGaps(MakeContext(call).get(), req, &gaps).ok())
        w->gaps.assign(gaps.events().begin(), gaps.events().end());
    } else if (s.name == "anomaly") {
      auto stub = anpb::AnomalyService::NewStub(MakeChannel(call));
      anpb::ListRecentAnomaliesRequest req;
      req.set_limit(10);
      anpb::ListRecentAnomaliesResponse resp;
      grpc::Status st = stub->ListRecentAnomalies(MakeContext(call).get(), req, &resp);
      w->anomalies_error = st.ok() ? "" : st.error_message();
      w->anomalies.assign(resp.anomalies().begin(), resp.anomalies().end());
    }
  }
  w->updated = now;
}

// -------------------------------------------------------------- rendering ---

std::string Sparkline(const std::deque<double>& history, size_t width) {
  static const char* kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  const size_t n = std::min(width, history.size());
  double max = 0;
  for (size_t i = history.size() - n; i < history.size(); ++i) max = std::max(max, history[i]);
  std::string out(width - n, ' ');
  for (size_t i = history.size() - n; i < history.size(); ++i) {
    int level = max > 0 ? static_cast<int>(history[i] / max * 7.0 + 0.5) : 0;
    out += history[i] > 0 ? kBars[std::clamp(level, 0, 7)] : " ";
  }
  return out;
}

std::string Rate(double r) {
  if (r >= 1e6) return absl::StrFormat("%.1fM/s", r / 1e6);
  if (r >= 1e4) return absl::StrFormat("%.1fk/s", r / 1e3);
  return absl::StrFormat("%.1f/s", r);
}

struct Pane {
  std::string title;
  std::vector<std::string> lines;
};

std::vector<Pane> Render(const World& w) {
  std::vector<Pane> panes;
  Pane svc{"SERVICES", {}};
  svc.lines.push_back(absl::StrFormat("%-15s %-21s %-9s %-12s %10s  %-32s %s", "SERVICE", "TARGET", "STATE",
                                      "READINESS", "RATE", "LAST 3 MIN", "COUNTING"));
  for (const auto& s : w.services) {
    svc.lines.push_back(absl::StrFormat("%-15s %-21s %-9s %-12s %10s  %-32s %s", s.name, s.target, s.state,
                                        s.up ? (s.readiness == "ready" ? s.readiness : "NOT READY") : "-",
                                        s.up ? (s.metrics_ok ? Rate(s.rate) : "no metrics") : "-",
                                        Sparkline(s.history, 32),
                                        s.up ? ThroughputOf(s.name).unit : s.why_down.substr(0, 60)));
    if (s.up && s.readiness != "ready") svc.lines.push_back("    " + s.readiness);
  }
  panes.push_back(std::move(svc));

  Pane lag{"CONSUMER LAG (pending per durable) / CDC SLOT LAG", {}};
  for (const auto& s : w.services)
    for (const auto& m : s.metrics)
      if (m.name == "streamadmin_bus_consumer_pending" || m.name == "streamadmin_cdc_slot_lag_bytes")
        lag.lines.push_back(absl::StrFormat("%-15s %-32s %-48s %12.0f", s.name,
                                            m.name.substr(std::string("streamadmin_").size()), m.labels, m.value));
  if (lag.lines.empty()) lag.lines.push_back("(no consumer reports yet)");
  panes.push_back(std::move(lag));

  Pane dlq{"DEAD LETTERS BY REASON", {}};
  for (const auto& s : w.services)
    for (const auto& m : s.metrics)
      if ((m.name.find("dead_letters_total") != std::string::npos ||
           m.name == "streamadmin_normalizer_decode_errors_total") &&
          m.value > 0)
        dlq.lines.push_back(absl::StrFormat("%-15s %-40s %-40s %10.0f", s.name,
                                            m.name.substr(std::string("streamadmin_").size()), m.labels, m.value));
  if (dlq.lines.empty()) dlq.lines.push_back("none");
  panes.push_back(std::move(dlq));

  Pane books{"BOOKS PER VENUE / LATEST GAPS", {}};
  if (!w.venues_error.empty()) books.lines.push_back(w.venues_error);
  if (!w.venues.empty())
    books.lines.push_back(absl::StrFormat("%-18s %6s %6s %10s %12s %12s %10s", "VENUE", "BOOKS", "VALID", "RESYNCING",
                                          "TRADES", "BOOK UPDATES", "DEC ERRORS"));
  for (const auto& v : w.venues)
    books.lines.push_back(absl::StrFormat("%-18s %6u %6u %10u %12u %12u %10u", v.venue(), v.books(),
                                          v.books() - std::min(v.books(), v.books_resyncing()), v.books_resyncing(),
                                          v.trades(), v.book_updates(), v.decode_errors()));
  for (const auto& g : w.gaps) {
    std::string kind = streamadmin::marketdata::v1::VenueStatus::Kind_Name(g.kind());
    books.lines.push_back(absl::StrFormat(
        "  gap %s %s %s %s",
        absl::FormatTime("%H:%M:%S", absl::FromUnixNanos(g.origin().receive_time_ns()), absl::UTCTimeZone()),
        g.origin().venue(), g.origin().symbol(), kind.rfind("KIND_", 0) == 0 ? kind.substr(5) : kind));
  }
  panes.push_back(std::move(books));

  Pane an{"LATEST ANOMALIES", {}};
  if (!w.anomalies_error.empty()) an.lines.push_back(w.anomalies_error);
  for (const auto& a : w.anomalies)
    an.lines.push_back(
        absl::StrFormat("%s %-10s %-10s %-6s score %.3f >= %.3f",
                        absl::FormatTime("%H:%M:%S", absl::FromUnixNanos(a.event_time_ns()), absl::UTCTimeZone()),
                        a.venue(), a.symbol(), a.event_kind(), a.score(), a.threshold()));
  if (w.anomalies_error.empty() && w.anomalies.empty()) an.lines.push_back("none yet");
  panes.push_back(std::move(an));
  return panes;
}

std::string Header(const World& w) {
  int up = 0;
  for (const auto& s : w.services) up += s.up;
  return absl::StrFormat("stream-admin monitor  %s UTC  %d/%d services up",
                         absl::FormatTime("%Y-%m-%d %H:%M:%S", w.updated, absl::UTCTimeZone()), up,
                         static_cast<int>(w.services.size()));
}

void PrintOnce(const World& w) {
  std::printf("%s\n", Header(w).c_str());
  for (const auto& p : Render(w)) {
    std::printf("\n== %s ==\n", p.title.c_str());
    for (const auto& l : p.lines) std::printf("%s\n", l.c_str());
  }
  std::fflush(stdout);
}

// Cuts `s` to `width` terminal columns (code points; the sparkline is UTF-8).
std::string Fit(const std::string& s, int width) {
  int cols = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && ++cols > width) return s.substr(0, i);
  }
  return s;
}

std::atomic<bool> g_quit{false};
void OnSignal(int) { g_quit = true; }

class RawTerminal {
 public:
  RawTerminal() {
    ok_ = tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (ok_) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    std::printf("\x1b[?1049h\x1b[?25l");  // alternate screen, no cursor
    std::fflush(stdout);
  }
  ~RawTerminal() {
    std::printf("\x1b[?25h\x1b[?1049l");
    std::fflush(stdout);
    if (ok_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

 private:
  bool ok_ = false;
  termios saved_{};
};

void Draw(const World& w, int selected, const std::string& note) {
  winsize ws{};
  int rows = 40, cols = 160;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
    rows = ws.ws_row;
    cols = ws.ws_col;
  }
  std::vector<Pane> panes = Render(w);
  // Every pane gets its title and up to 4 lines; the selected one the rest.
  int fixed = 2;  // header, footer
  for (size_t i = 0; i < panes.size(); ++i)
    if (static_cast<int>(i) != selected) fixed += 1 + std::min<int>(4, panes[i].lines.size());
  const int spare = std::max(1, rows - fixed - 1);
  std::string out = "\x1b[H\x1b[2J";
  out += "\x1b[1m" + Fit(Header(w), cols) + "\x1b[0m\r\n";
  for (size_t i = 0; i < panes.size(); ++i) {
    const bool sel = static_cast<int>(i) == selected;
    out += (sel ? "\x1b[7m> " : "\x1b[1m  ") + Fit(panes[i].title, cols - 2) + "\x1b[0m\r\n";
    const int limit = sel ? spare : 4;
    int shown = 0;
    for (const auto& l : panes[i].lines) {
      if (shown == limit) break;
      const bool down = l.find(" DOWN ") != std::string::npos;
      out += (down ? "\x1b[31m" : "") + Fit("  " + l, cols) + (down ? "\x1b[0m" : "") + "\r\n";
      ++shown;
    }
    if (static_cast<int>(panes[i].lines.size()) > limit)
      out += Fit(absl::StrCat("  ... ", panes[i].lines.size() - limit, " more (select this pane)"), cols) + "\r\n";
  }
  out += "\x1b[2m" + Fit("Tab/Right/n next pane  Shift-Tab/Left/p previous  q quit" + note, cols) + "\x1b[0m";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int RunMonitor(const MonitorOptions& o) {
  World w;
  std::vector<std::string> targets = o.targets;
  if (targets.empty())
    targets = {kIngestTarget, kNormalizerTarget,    kCdcBridgeTarget, kAnomalyTarget,
               kAdminTarget,  kWarehouseSinkTarget, kViewsTarget};
  for (const auto& t : targets) {
    ServiceView s;
    s.target = t;
    s.name = t;
    w.services.push_back(std::move(s));
  }
  const absl::Duration interval = absl::Milliseconds(std::max(100.0, o.interval_s * 1000));
  if (o.once) {
    Collect(o, &w);
    absl::SleepFor(interval);  // a second sample, so that rates are known
    Collect(o, &w);
    PrintOnce(w);
    for (const auto& s : w.services)
      if (!s.up) return kExitFailed;
    return kExitOk;
  }
  if (!isatty(STDOUT_FILENO)) {
    std::fprintf(stderr, "stream-admin monitor: stdout is not a terminal; use --once for plain text\n");
    return kExitUsage;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  RawTerminal term;
  const int kPanes = 5;
  int selected = 0;
  absl::Time next = absl::Now();
  while (!g_quit) {
    if (absl::Now() >= next) {
      Collect(o, &w);
      next = absl::Now() + interval;
      Draw(w, selected, "");
    }
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    const int wait_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(next - absl::Now()));
    if (poll(&pfd, 1, wait_ms) <= 0 || !(pfd.revents & POLLIN)) continue;
    char buf[16];
    const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n <= 0) continue;
    const std::string keys(buf, static_cast<size_t>(n));
    if (keys == "q" || keys == "Q") break;
    if (keys == "\t" || keys == "n" || keys == "\x1b[C" || keys == "j")
      selected = (selected + 1) % kPanes;
    else if (keys == "\x1b[Z" || keys == "p" || keys == "\x1b[D" || keys == "k")
      selected = (selected + kPanes - 1) % kPanes;
    Draw(w, selected, "");
  }
  return kExitOk;
}

}  // namespace sa::cli
