// The node's event stream: what changed in the market, as JSON messages
//   {"seq": N, "type": "order" | "cancel" | "deal" | "status" | "deal_status" | "transaction",
//    "atMs": ..., "data": {...}}
// pushed to every subscriber (the WebSocket clients of /v1/events, docs/api.md). `seq` counts
// the messages from 1 since the node started, so a client sees whether it missed any.
// Single-threaded, like the server that drives it: publish() calls the subscribers at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace ipsx::api {

class EventStream {
 public:
  using Message = std::shared_ptr<const std::string>;
  using Subscriber = std::function<void(const Message&)>;

  // Returns the subscription's id, for unsubscribe().
  uint64_t subscribe(Subscriber s);
  void unsubscribe(uint64_t id);
  // Sends {"seq","type","atMs","data"} to every subscriber.
  void publish(const std::string& type, nlohmann::json data, int64_t at_ms);

  size_t subscribers() const { return subscribers_.size(); }
  uint64_t published() const { return seq_; }

 private:
  uint64_t next_id_ = 1;
  uint64_t seq_ = 0;
  std::map<uint64_t, Subscriber> subscribers_;
};

}  // namespace ipsx::api
