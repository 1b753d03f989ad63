#include "console_changes.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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
    if (auto p = c.find("paused"); p != c.end()) {
      if (!p->is_boolean()) return std::unexpected(bad(file_, "offers." + ip + ".paused"));
      ch.paused = p->get<bool>();
    }
    offers_[ip] = ch;
  }
  return {};
}

Result<void> ConsoleChanges::record(const std::string& ip, const OfferChange& change) {
  OfferChange& kept = offers_[ip];
  if (change.price_per_second) kept.price_per_second = change.price_per_second;
  if (change.scopes) kept.scopes = change.scopes;
  if (change.protocols) kept.protocols = change.protocols;
  if (change.paused) kept.paused = change.paused;
  json offers = json::object();
  for (const auto& [a, c] : offers_) {
    json o = json::object();
    if (c.price_per_second) o["pricePerSecond"] = c.price_per_second->to_dec();
    if (c.scopes) o["scopes"] = *c.scopes;
    if (c.protocols) o["protocols"] = *c.protocols;
    if (c.paused) o["paused"] = *c.paused;
    offers[a] = o;
  }
  const std::string text = json{{"offers", offers}}.dump(1) + "\n";
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
