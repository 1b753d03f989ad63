// The binary forms in which the embedded ledger's store keeps a signed transaction and the events
// of one transaction (docs/ledger.md, "Storage"). A block's transactions were stored as JSON
// until this form replaced it: writing that JSON cost the ledger's writer a fifth of its
// throughput. Stores written before keep their JSON rows and read as they are (Store tells the
// two apart by the column's type).
//
// Decoding is for bytes this program wrote, but checks every length and value all the same: a
// damaged row is an error naming what is wrong, never a crash. A transaction's digest is
// recomputed from its fields (as from JSON), so a damaged row also fails the replay's id check.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.h"

namespace ipsx::ledger {

std::string encode_tx(const SignedTx& tx);
Result<SignedTx> decode_tx(std::string_view bytes, const Hash& domain_separator);

// The events of one transaction, without what the row they are stored in already says (block,
// index, transaction id): decode_events() takes those back from the caller.
std::string encode_events(std::span<const Event> events);
Result<std::vector<Event>> decode_events(std::string_view bytes, uint64_t block, uint32_t tx_index,
                                         const Hash& tx_id);

}  // namespace ipsx::ledger
