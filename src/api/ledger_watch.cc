#include "api/ledger_watch.h"

namespace ipsx::api {

LedgerWatch::LedgerWatch(const ledger::Ledger& ledger, Millis interval)
    : ledger_(ledger), interval_(interval) {
  check();
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      check();
      lock.lock();
    }
  });
}

LedgerWatch::~LedgerWatch() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

LedgerFinding LedgerWatch::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

LedgerFinding inspect(const ledger::Ledger& ledger) {
  LedgerFinding f;
  auto identity = ledger.check_identity();
  auto height = identity ? ledger.height() : std::unexpected(identity.error());
  auto head = height ? ledger.block(*height) : std::unexpected(height.error());
  f.checked_ms = to_unix_ms(SystemClock().now());
  if (head) {
    f.usable = true;
    f.head = head->number;
    f.head_time_ms = head->timestamp_ms;
  } else {
    f.reason = head.error().message();
  }
  return f;
}

LedgerFinding LedgerWatch::check() {
  LedgerFinding f = inspect(ledger_);
  std::lock_guard lock(mu_);
  if (!f.usable) {  // what was last seen of the head
    f.head = last_.head;
    f.head_time_ms = last_.head_time_ms;
  }
  last_ = f;
  return f;
}

}  // namespace ipsx::api
