// Experiment, not product code: an LD_PRELOAD shim that turns on nats.c's
// "send ASAP" option for every connection a process makes, so the effect of
// that option on the pipeline can be measured without changing libs/bus.
//
//   LD_PRELOAD=build/bench/libnats_send_asap_preload.so build/bench/pipeline_bench
//
// Why: by default nats.c buffers every publish (core publishes, JetStream
// async publishes, acks, pull requests) and its flusher thread writes the
// buffer after waiting up to 1 ms "to accumulate more" (conn.c, _flusher).
// With natsOptions_SetSendAsap(opts, true) the publishing thread writes at
// once. The normalizer started by pipeline_bench inherits LD_PRELOAD;
// nats-server (a static Go binary) ignores it.
#include <dlfcn.h>
#include <nats/nats.h>

#include <cstdio>

extern "C" natsStatus natsConnection_Connect(natsConnection** nc, natsOptions* options) {
  using ConnectFn = natsStatus (*)(natsConnection**, natsOptions*);
  static ConnectFn real = reinterpret_cast<ConnectFn>(dlsym(RTLD_NEXT, "natsConnection_Connect"));
  if (real == nullptr) {
    std::fprintf(stderr, "nats_send_asap_preload: natsConnection_Connect not found\n");
    return NATS_ERR;
  }
  if (options != nullptr) (void)natsOptions_SetSendAsap(options, true);
  return real(nc, options);
}
