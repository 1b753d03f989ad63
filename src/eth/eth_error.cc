#include "eth/eth_error.h"

#include <string>

namespace ipsx::eth {
namespace {

class EthCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.eth"; }
  std::string message(int c) const override {
    switch (static_cast<EthErrc>(c)) {
      case EthErrc::truncated:
        return "truncated input";
      case EthErrc::non_canonical:
        return "non-canonical encoding";
      case EthErrc::trailing_bytes:
        return "trailing bytes";
      case EthErrc::too_deep:
        return "nesting too deep";
      case EthErrc::too_large:
        return "too large";
      case EthErrc::bad_type:
        return "bad ABI type";
      case EthErrc::bad_value:
        return "value does not fit its ABI type";
      case EthErrc::bad_offset:
        return "ABI offset or length out of range";
      case EthErrc::bad_padding:
        return "bad ABI padding";
      case EthErrc::bad_transaction:
        return "bad transaction";
      case EthErrc::unsupported_type:
        return "unsupported transaction type";
      case EthErrc::bad_signature:
        return "bad transaction signature";
      case EthErrc::unknown_selector:
        return "unknown selector";
      case EthErrc::rpc_error:
        return "JSON-RPC error";
      case EthErrc::unavailable:
        return "RPC node unavailable";
      case EthErrc::timeout:
        return "timed out";
      case EthErrc::bad_response:
        return "bad JSON-RPC response";
      case EthErrc::reverted:
        return "reverted";
      case EthErrc::reorg_too_deep:
        return "reorganisation deeper than the blocks remembered";
    }
    return "unknown eth error";
  }
};

}  // namespace

const std::error_category& eth_category() {
  static const EthCategory category;
  return category;
}

}  // namespace ipsx::eth
