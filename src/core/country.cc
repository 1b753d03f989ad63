#include "core/country.h"

#include <algorithm>

namespace ipsx {
namespace {

constexpr std::string_view kCodes =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZ"
    "BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
    "CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ"
    "DEDJDKDMDODZ"
    "ECEEEGEHERESET"
    "FIFJFKFMFOFR"
    "GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY"
    "HKHMHNHRHTHU"
    "IDIEILIMINIOIQIRISIT"
    "JEJMJOJP"
    "KEKGKHKIKMKNKPKRKWKYKZ"
    "LALBLCLILKLRLSLTLULVLY"
    "MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ"
    "NANCNENFNGNINLNONPNRNUNZ"
    "OM"
    "PAPEPFPGPHPKPLPMPNPRPSPTPWPY"
    "QA"
    "RERORSRURW"
    "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ"
    "TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ"
    "UAUGUMUSUYUZ"
    "VAVCVEVGVIVNVU"
    "WFWS"
    "YEYT"
    "ZAZMZW";

static_assert(kCodes.size() == 2 * 249);

}  // namespace

const std::array<std::array<char, 2>, 249>& country_codes() {
  static const auto codes = [] {
    std::array<std::array<char, 2>, 249> out{};
    for (size_t i = 0; i < out.size(); ++i) out[i] = {kCodes[2 * i], kCodes[2 * i + 1]};
    return out;
  }();
  return codes;
}

bool is_country_code(std::string_view code) {
  if (code.size() != 2) return false;
  std::array<char, 2> c{code[0], code[1]};
  const auto& all = country_codes();
  return std::binary_search(all.begin(), all.end(), c);
}

}  // namespace ipsx
