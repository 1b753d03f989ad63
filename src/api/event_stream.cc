#include "api/event_stream.h"

#include <vector>

namespace ipsx::api {

uint64_t EventStream::subscribe(Subscriber s) {
  uint64_t id = next_id_++;
  subscribers_.emplace(id, std::move(s));
  return id;
}

void EventStream::unsubscribe(uint64_t id) {
  subscribers_.erase(id);
}

void EventStream::publish(const std::string& type, nlohmann::json data, int64_t at_ms) {
  if (subscribers_.empty()) {  // nobody to write it for: only the sequence moves on
    ++seq_;
    return;
  }
  nlohmann::json m = {{"seq", ++seq_}, {"type", type}, {"atMs", at_ms}, {"data", std::move(data)}};
  auto text = std::make_shared<const std::string>(m.dump());
  // A subscriber may unsubscribe (itself or another) while called: iterate over a copy of ids.
  std::vector<uint64_t> ids;
  ids.reserve(subscribers_.size());
  for (const auto& [id, _] : subscribers_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = subscribers_.find(id);
    if (it != subscribers_.end()) it->second(text);
  }
}

}  // namespace ipsx::api
