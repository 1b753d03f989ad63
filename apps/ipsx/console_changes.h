// The changes made in the provider's console (docs/web.md), kept in the provider's data
// directory (`console.json`) so that a restarted agent offers what the console last set, over
// the config file's terms, and says so.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "core/error.h"
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
  const std::map<std::string, OfferChange>& offers() const { return offers_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::map<std::string, OfferChange> offers_;
};

}  // namespace ipsx::cli
