// Coordinator: which views this replica runs.
//
// It watches the definitions bucket (admin writes it), and every lease
// period (lease_ttl / 3, and at once after a definition changes):
// - renews the lease of each view it runs (VIEW_LEASES/<name>, a
//   compare-and-set on the revision it last wrote; the bucket's max age is the
//   lease TTL, so a dead replica's leases vanish after it). A lease it can no
//   longer renew means another replica may own the view: its runner stops at
//   once, without a checkpoint;
// - restarts a runner whose definition changed (a new version, or the owner's
//   rights rewritten by admin);
// - stops a dropped view's runner and removes its lease, checkpoint, status
//   and durable;
// - takes the lease of each definition nobody holds (create-if-absent), up
//   to max_views, and starts its runner.
// A view is therefore run by at most one replica at a time, except for the
// moments after a lease expired under a replica that is alive but stalled
// (a long pause): both may then publish, but outputs have deterministic ids
// and checkpoints are compare-and-set, so nothing is stored twice or lost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "bus/kv.h"
#include "streamadmin/views/v1/views.pb.h"
#include "views_service/runner.h"

namespace sa::views_service {

struct CoordinatorOptions {
  std::string replica;
  absl::Duration lease_ttl = absl::Seconds(5);
  size_t max_views = 100;
  std::string definitions_bucket, leases_bucket, checkpoints_bucket, status_bucket;
  RunnerOptions runner;
};

class Coordinator {
 public:
  Coordinator(bus::Connection& connection, CoordinatorOptions options);
  ~Coordinator();

  void Start();
  // Stops every runner (`handover`: checkpoint first and release the leases,
  // so another replica continues at once), then the coordinator thread.
  void Stop(bool handover);
  void SetPaused(bool paused);

  std::vector<streamadmin::views::v1::ViewStatus> Running() const;
  // Buckets open and the definitions watched.
  bool healthy() const { return healthy_.load(); }
  size_t definitions() const;

 private:
  struct Owned {
    std::unique_ptr<ViewRunner> runner;
    uint64_t lease_revision = 0;
    absl::Time renewed = absl::InfinitePast();
  };
  void Loop();
  absl::Status Open();
  void Reconcile();
  void StartRunner(const std::string& name, const streamadmin::views::v1::ViewDefinition& def, uint64_t lease_rev);
  void Drop(const std::string& name, Owned& owned);

  bus::Connection& connection_;
  const CoordinatorOptions options_;
  std::unique_ptr<bus::JetStream> js_;
  std::unique_ptr<bus::KeyValue> definitions_kv_, leases_kv_, checkpoints_kv_, status_kv_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> healthy_{false};
  std::atomic<bool> paused_{false};
  std::thread thread_;

  mutable std::mutex mu_;  // guards definitions_ and owned_ (the loop is their only writer)
  std::map<std::string, streamadmin::views::v1::ViewDefinition> definitions_;
  std::map<std::string, Owned> owned_;
};

}  // namespace sa::views_service
