#include "console_changes.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "log.h"
#include "vocab/ip.h"

namespace ipsx::cli {

namespace {

using nlohmann::json;

Error bad(const std::filesystem::path& f, const std::string& why) {
  return Error(CoreErrc::parse_error, f.string() + ": " + why);
}

}  // namespace

Result<void> ConsoleChanges::load() {
  std::ifstream in(file_);
  if (!in) return {};  // no changes yet
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object() || !j.contains("offers") || !j["offers"].is_object())
    return std::unexpected(bad(file_, "not the console's changes (want {\"offers\": {...}})"));
  for (const auto& [ip, c] : j["offers"].items()) {
    if (!c.is_object()) return std::unexpected(bad(file_, "offers." + ip + ": not an object"));
    OfferChange ch;
    if (auto p = c.find("pricePerSecond"); p != c.end()) {
      auto v = p->is_string() ? U256::from_dec(p->get<std::string>())
                              : Result<U256>(std::unexpected(bad(file_, "a string")));
      if (!v) return std::unexpected(bad(file_, "offers." + ip + ".pricePerSecond"));
      ch.price_per_second = *v;
    }
    for (const char* k : {"scopes", "protocols"}) {
      if (auto p = c.find(k); p != c.end()) {
        if (!p->is_number_unsigned())
          return std::unexpected(bad(file_, "offers." + ip + "." + k + ": a number"));
        (std::string(k) == "scopes" ? ch.scopes : ch.protocols) = p->get<uint32_t>();
      }
    }
    if (auto p = c.find("hours"); p != c.end()) {
      if (!p->is_string() || !parse_hours(p->get<std::string>()))
        return std::unexpected(bad(file_, "offers." + ip + ".hours"));
      ch.hours = p->get<std::string>();
    }
    if (auto p = c.find("paused"); p != c.end()) {
      if (!p->is_boolean()) return std::unexpected(bad(file_, "offers." + ip + ".paused"));
      ch.paused = p->get<bool>();
    }
    offers_[ip] = ch;
  }
  if (auto pol = j.find("policy"); pol != j.end()) {
    net::DestinationPolicy policy;
    for (const char* k : {"allow", "deny"}) {
      for (const json& r : pol->value(k, json::array())) {
        auto prefix = r.is_string() ? parse_prefix(r.get<std::string>())
                                    : Result<IpPrefix>(std::unexpected(bad(file_, "a string")));
        if (!prefix) return std::unexpected(bad(file_, std::string("policy.") + k));
        (std::string(k) == "allow" ? policy.allow : policy.deny).push_back(*prefix);
      }
    }
    policy_ = policy;
  }
  return {};
}

void ConsoleChanges::apply(ProvideConfig& c) const {
  if (auto p = policy()) {
    c.policy = *p;
    logs::info("the exit's allow and deny lists from " + file_.string() +
               " (the console's) apply over the config");
  }
}

void ConsoleChanges::apply(ProviderOffers& offers, const ProvideConfig& c) const {
  const auto changed = this->offers();
  for (size_t i = 0; i < c.offers.size(); ++i) {
    auto ch = changed.find(format_ip(c.offers[i].ip));
    if (ch == changed.end()) continue;
    offers.preset(i, ch->second);
    logs::info(fmt::format("{}: the console's changes from {} apply over the config", ch->first,
                           file_.string()));
  }
}

std::map<std::string, OfferChange> ConsoleChanges::offers() const {
  std::lock_guard lock(mu_);
  return offers_;
}

std::optional<net::DestinationPolicy> ConsoleChanges::policy() const {
  std::lock_guard lock(mu_);
  return policy_;
}

Result<void> ConsoleChanges::record_policy(const net::DestinationPolicy& policy) {
  std::lock_guard lock(mu_);
  policy_ = policy;
  return save();
}

Result<void> ConsoleChanges::record(const std::string& ip, const OfferChange& change) {
  std::lock_guard lock(mu_);
  OfferChange& kept = offers_[ip];
  if (change.price_per_second) kept.price_per_second = change.price_per_second;
  if (change.scopes) kept.scopes = change.scopes;
  if (change.protocols) kept.protocols = change.protocols;
  if (change.paused) kept.paused = change.paused;
  if (change.hours) kept.hours = change.hours;
  return save();
}

Result<void> ConsoleChanges::save() {
  json offers = json::object();
  for (const auto& [a, c] : offers_) {
    json o = json::object();
    if (c.price_per_second) o["pricePerSecond"] = c.price_per_second->to_dec();
    if (c.scopes) o["scopes"] = *c.scopes;
    if (c.protocols) o["protocols"] = *c.protocols;
    if (c.paused) o["paused"] = *c.paused;
    if (c.hours) o["hours"] = *c.hours;
    offers[a] = o;
  }
  json j = {{"offers", offers}};
  if (policy_) {
    json allow = json::array(), deny = json::array();
    for (const auto& p : policy_->allow) allow.push_back(to_string(p));
    for (const auto& p : policy_->deny) deny.push_back(to_string(p));
    j["policy"] = {{"allow", allow}, {"deny", deny}};
  }
  const std::string text = j.dump(1) + "\n";
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  const std::filesystem::path tmp = file_.string() + ".new";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return std::unexpected(Error(CoreErrc::io_error, "cannot write " + tmp.string()));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), file_.c_str()) != 0)
    return std::unexpected(Error(CoreErrc::io_error, "cannot write " + file_.string()));
  return {};
}

}  // namespace ipsx::cli
