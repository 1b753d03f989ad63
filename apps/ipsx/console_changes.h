// The changes made in the provider's console (docs/web.md), kept in the provider's data
// directory (`console.json`) so that a restarted agent offers what the console last set, over
// the config file's terms, and says so.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/error.h"
#include "net/address_policy.h"
#include "provider_offers.h"

namespace ipsx::cli {

class ConsoleChanges {
 public:
  explicit ConsoleChanges(std::filesystem::path file) : file_(std::move(file)) {}
  // Reads the file (none: no changes). Fails on a file that is not what save() writes.
  Result<void> load();
  // Adds `change` for `ip` to what is kept (later fields over earlier ones) and writes the file
  // (a new file, synced, renamed over the old one).
  Result<void> record(const std::string& ip, const OfferChange& change);
  // Keeps the exit's destination policy (allow and deny lists) as the console set it.
  Result<void> record_policy(const net::DestinationPolicy& policy);
  // What was kept (thread-safe, as the record calls).
  std::map<std::string, OfferChange> offers() const;
  std::optional<net::DestinationPolicy> policy() const;
  const std::filesystem::path& file() const { return file_; }
  // At a start: the kept lists over the config's (before the exit starts), and the kept terms
  // over each IP's (before anything is placed), each logged.
  void apply(ProvideConfig& c) const;
  void apply(ProviderOffers& offers, const ProvideConfig& c) const;

 private:
  Result<void> save();  // under mu_

  std::filesystem::path file_;
  mutable std::mutex mu_;
  std::map<std::string, OfferChange> offers_;
  std::optional<net::DestinationPolicy> policy_;
};

}  // namespace ipsx::cli
