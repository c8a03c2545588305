// Output: what a topology core asks its driver (the node shell or the simulator) to do
// after an input. Modelled on etcd-io/raft's Ready.
//
// Contract for the driver, in this order, for each Output taken:
//   1. storage: make these writes durable before step 2 (persist before send). [Raft]
//   2. send: deliver these messages to peers.                                  [Raft, ...]
//   3. apply: apply each request through the kv state machine (server/kv), in order, at
//      the given time, and answer the client with the result once the writes that the
//      answer depends on are as durable as the request's durability mode demands.
//   4. replies: send these answers to clients as they are; the core produced them itself
//      (errors such as kNotLeader or kUnsupported).
//   5. expire: run a TTL expiry sweep through the kv state machine at each given time.
// The single topology uses only apply, replies and expire; the replicated topologies add
// storage and send as they arrive.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <vector>

#include "common/wire/messages.h"

namespace kvd::topology {

// Identifies the client connection and request an answer belongs to.
struct ClientRef {
  uint64_t connection_id = 0;
  uint64_t request_id = 0;
  uint64_t start_ns = 0;  // the shell's arrival timestamp, for latency metrics; cores copy
                          // it untouched and never read it
  bool operator==(const ClientRef&) const = default;
};

struct ClientRequest {
  ClientRef ref;
  uint64_t arrival_ms = 0;  // wall clock (unix ms) when the shell received it
  wire::Request request;
};

struct ApplyItem {
  ClientRef ref;
  uint64_t now_ms = 0;  // the time at which TTLs are computed and checked
  wire::Request request;
};

struct Reply {
  ClientRef ref;
  wire::Response response;
};

struct Output {
  std::vector<ApplyItem> apply;
  std::vector<Reply> replies;
  std::vector<uint64_t> expire;  // sweep times (unix ms)

  bool empty() const { return apply.empty() && replies.empty() && expire.empty(); }
};

}  // namespace kvd::topology
