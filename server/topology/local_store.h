// LocalStore: a topology core's synchronous view of the node's own replicated key states
// (dynamo). The driver implements it over its kv state machine (writes staged but not yet
// durable included); the simulator over its simulated disk. Reading it is not I/O from the
// core's point of view: it is the state the driver applied from the core's own outputs.
//
// Thread-safety: called from the thread that drives the core.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "server/kv/replicated_state.h"

namespace kvd::topology {

class LocalStore {
 public:
  virtual ~LocalStore() = default;
  // The state of `key` (nullopt: none).
  virtual std::optional<kv::KeyState> Load(const std::string& key) = 0;
  // Every key and its encoded state (anti-entropy builds its trees from it once, at start).
  virtual void ForEach(const std::function<void(const std::string&, const std::string&)>& fn) = 0;
};

}  // namespace kvd::topology
