#!/usr/bin/env bash
# End to end: the Ethereum backend's contracts (contracts/*.sol) on a local anvil, driven with
# foundry's cast as an independent client: compile with the pinned solc-js, deploy IPSXToken and
# Centralizer, run the crowd sale (buy, finalize, claim unsold), ERC20 transfers, deposits, deals
# opened from an Offer and a Request signed off-chain (EIP-712, checked against `ipsx wallet
# hash-typed-data` so the C++ and Solidity encodings agree), claims with balance proofs, the three
# ways to close, settlement after a challenge period, ratings, cancellation, withdrawal; every
# rejection is checked for its custom error (the LedgerErrc of docs/ledger.md). Ends with the gas
# used by each function (from the receipts) and the supply invariant.
# usage: contracts_e2e.sh [IPSX]   (IPSX defaults to build/bin/ipsx; without it the C++
#                                   cross-checks are skipped)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
CAST=$root/node_modules/.bin/cast
ANVIL=$root/node_modules/.bin/anvil
IPSX=${1:-$root/build/bin/ipsx}
for t in "$CAST" "$ANVIL" "$root/node_modules/solc/package.json" "$root/node_modules/@openzeppelin/contracts/package.json"; do
  [[ -e $t ]] || { echo "missing $t: run 'npm ci' in $root"; exit 1; }
done
command -v jq >/dev/null || { echo "jq is required"; exit 1; }
have_ipsx=1
[[ -x $IPSX ]] || { echo "note: no $IPSX, skipping the C++ cross-checks"; have_ipsx=0; }

# Nothing leaves the machine: anvil listens on 127.0.0.1 only, and any HTTP(S) a tool might try
# elsewhere (e.g. a selector lookup) goes to a closed local port instead.
keep_traffic_local

# ---- compile -----------------------------------------------------------------------------------
art=$work/art
if out=$(node "$root/contracts/build.js" "$art" 2>&1); then ok "compile: $out"; else
  bad "compile: $out"
  finish
  exit 1
fi
errors_json=$art/ledger-errors.json

# ---- anvil on a free loopback port ------------------------------------------------------------
# shellcheck disable=SC2119  # no anvil arguments here
start_anvil || { finish; exit 1; }
chain_id=$("$CAST" chain-id --rpc-url "$RPC")

# Accounts: anvil's well-known development mnemonic.
mnemonic="test test test test test test test test test test test junk"
key() { "$CAST" wallet private-key "$mnemonic" "$1"; }
addr() { "$CAST" wallet address --private-key "$1"; }
K_DEPLOY=$(key 0) K_EARLY=$(key 1) K_BOUNTY=$(key 2) K_TEAM=$(key 3) K_ALICE=$(key 4) K_PROV=$(key 5) K_MKT=$(key 6) K_TREAS=$(key 7)
DEPLOYER=$(addr "$K_DEPLOY") EARLY=$(addr "$K_EARLY") BOUNTY=$(addr "$K_BOUNTY") TEAM=$(addr "$K_TEAM")
ALICE=$(addr "$K_ALICE") PROV=$(addr "$K_PROV") MKT=$(addr "$K_MKT") TREAS=$(addr "$K_TREAS")
[[ $K_DEPLOY == 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 ]] || bad "anvil's first dev key"

# ---- helpers ----------------------------------------------------------------------------------
declare -A gas
gas_order=()
last=
# tx NAME KEY ARGS...: `cast send` that must succeed; records the gas used under NAME.
tx() {
  local name=$1 k=$2 out g
  shift 2
  # stderr apart: a warning cast prints there (seen under load) must not end up in the JSON.
  if out=$("$CAST" send --json --rpc-url "$RPC" --private-key "$k" "$@" 2>"$work/cast.err") &&
    [[ $(jq -r .status <<<"$out" 2>/dev/null) == 0x1 ]]; then
    g=$(printf '%d' "$(jq -r .gasUsed <<<"$out")")
    [[ -n ${gas[$name]:-} ]] || gas_order+=("$name")
    gas[$name]="${gas[$name]:+${gas[$name]} }$g"
    last=$out
    ok "$name"
    return 0
  fi
  bad "$name: $out $(cat "$work/cast.err")"
  last=
  return 1
}
call() { "$CAST" call --rpc-url "$RPC" "$@" 2>&1; }
# expect_revert NAME ERROR KEY TO SIG ARGS...: eth_call from KEY's address reverts with the
# custom error ERROR(string). The selector is compared with cast's own `cast sig`, and looked up
# in build.js's ledger-errors.json for its LedgerErrc. VALUE=wei sends native coin along.
expect_revert() {
  local name=$1 err=$2 k=$3 to=$4
  shift 4
  expect_revert_data "$name" "$err" "$k" "$to" "$("$CAST" calldata "$@")"
}
# expect_revert_data NAME ERROR KEY TO DATA: the same with raw call data; TO "-" is a creation.
expect_revert_data() {
  local name=$1 err=$2 k=$3 to=$4 data=$5 from out rd sel want errc reason dest=
  from=$(addr "$k")
  [[ $to == - ]] || dest="\"to\":\"$to\","
  local value=${VALUE:-0}
  out=$("$CAST" rpc --rpc-url "$RPC" eth_call \
    "{\"from\":\"$from\",$dest\"data\":\"$data\",\"value\":\"$("$CAST" to-hex "$value")\"}" latest 2>&1)
  rd=$(grep -oE 'data: \\?"0x[0-9a-fA-F]*' <<<"$out" | grep -oE '0x[0-9a-fA-F]*' | tail -1)
  if [[ -z $rd ]]; then bad "$name: no revert data (expected $err): $out"; return; fi
  sel=${rd:0:10}
  want=$("$CAST" sig "$err(string)")
  errc=$(jq -r --arg s "$sel" '.[$s].errc // "?"' "$errors_json")
  reason=$("$CAST" abi-decode "f()(string)" "0x${rd:10}" 2>/dev/null)
  if [[ $sel == "$want" ]]; then ok "$name: $err ($errc) $reason"; else
    bad "$name: expected $err ($want), got $sel $(jq -r --arg s "$sel" '.[$s].name // "?"' "$errors_json") $reason"
  fi
}
rpc() { "$CAST" rpc --rpc-url "$RPC" "$@" >/dev/null; }
now() { "$CAST" block latest --field timestamp --rpc-url "$RPC"; }
warp() { rpc evm_increaseTime "$1" && rpc evm_mine; }
e18() { echo "${1}000000000000000000"; }
strip() { awk '{print $1}'; } # cast call prints "123 [1.23e2]"

# ---- deploy -------------------------------------------------------------------------------------
nonce=$("$CAST" nonce "$DEPLOYER" --rpc-url "$RPC")
CENT_PREDICTED=$("$CAST" compute-address --nonce $((nonce + 1)) "$DEPLOYER" | awk '{print $NF}')
t0=$(now)
SALE_START=$((t0 - 5)) SALE_END=$((t0 + 3600))
RATE=10000 HARD_CAP=$(e18 1000)
tx "IPSXToken (deploy)" "$K_DEPLOY" --create "$(jq -r .bytecode "$art/IPSXToken.json")" \
  "constructor(address,address,address,uint256,uint256,uint256,uint64,uint64,address,address)" \
  "$EARLY" "$BOUNTY" "$TEAM" "$RATE" "$HARD_CAP" 0 "$SALE_START" "$SALE_END" "$TREAS" "$CENT_PREDICTED"
TOKEN=$("$CAST" to-check-sum-address "$(jq -r .contractAddress <<<"$last")")
tx "Centralizer (deploy)" "$K_DEPLOY" --create "$(jq -r .bytecode "$art/Centralizer.json")" \
  "constructor(address,uint64)" "$TOKEN" 3600
CENT=$("$CAST" to-check-sum-address "$(jq -r .contractAddress <<<"$last")")
expect_eq "Centralizer at the address the token names" "$CENT" "$CENT_PREDICTED"
expect_eq "totalSupply" "$(call "$TOKEN" "totalSupply()(uint256)" | strip)" "$(e18 1800000000)"
expect_eq "team allocation" "$(call "$TOKEN" "balanceOf(address)(uint256)" "$TEAM" | strip)" "$(e18 360000000)"
expect_eq "sale pool" "$(call "$TOKEN" "pool()(uint256)" | strip)" "$(e18 900000000)"
# The link is checked both ways: a second Centralizer for the same token is refused.
expect_revert_data "a second Centralizer for the token" InvalidArgument "$K_DEPLOY" - \
  "$(jq -r .bytecode "$art/Centralizer.json")$("$CAST" abi-encode "constructor(address,uint64)" "$TOKEN" 3600 | cut -c3-)"

# ---- crowd sale ---------------------------------------------------------------------------------
expect_revert "transfer before finalize" TransfersLocked "$K_EARLY" "$TOKEN" "transfer(address,uint256)" "$ALICE" 1
expect_revert "deposit before finalize" TransfersLocked "$K_EARLY" "$CENT" "deposit(uint256)" 1
VALUE=0 expect_revert "buy of zero" InvalidArgument "$K_ALICE" "$TOKEN" "buy()"
VALUE=$(e18 1001) expect_revert "buy past the hard cap" HardCapExceeded "$K_ALICE" "$TOKEN" "buy()"
tx "buy" "$K_ALICE" --value "$(e18 2)" "$TOKEN" "buy()"
# A wallet's plain transfer of native coin to the token buys as buy() does.
tx "plain transfer (receive)" "$K_PROV" --value "$(e18 1)" "$TOKEN"
expect_eq "the plain transfer bought 10,000 IPSX" "$(call "$TOKEN" "bought(address)(uint256)" "$PROV" | strip)" "$(e18 10000)"
expect_eq "alice bought 20,000 IPSX" "$(call "$TOKEN" "balanceOf(address)(uint256)" "$ALICE" | strip)" "$(e18 20000)"
expect_eq "treasury received the coin" "$("$CAST" balance "$TREAS" --rpc-url "$RPC")" "$(e18 10003)"
tx "approve" "$K_BOUNTY" "$TOKEN" "approve(address,uint256)" "$MKT" \
  115792089237316195423570985008687907853269984665640564039457584007913129639935
expect_revert "approve of the zero address" InvalidArgument "$K_BOUNTY" "$TOKEN" "approve(address,uint256)" \
  0x0000000000000000000000000000000000000000 1
expect_revert "finalize before the end" SaleNotFinalizable "$K_TEAM" "$TOKEN" "finalizeSale()"
expect_revert "claim unsold before finalize" SaleNotFinalized "$K_ALICE" "$TOKEN" "claimUnsold()"
warp 3700
VALUE=$(e18 1) expect_revert "buy after the window" SaleNotOpen "$K_ALICE" "$TOKEN" "buy()"
VALUE=$(e18 1) expect_revert_data "a plain transfer after the window" SaleNotOpen "$K_ALICE" "$TOKEN" 0x
tx "finalizeSale" "$K_TEAM" "$TOKEN" "finalizeSale()"
expect_revert "finalize twice" SaleNotFinalizable "$K_TEAM" "$TOKEN" "finalizeSale()"
tx "claimUnsold" "$K_ALICE" "$TOKEN" "claimUnsold()"
tx "claimUnsold" "$K_PROV" "$TOKEN" "claimUnsold()"
expect_revert "claim unsold twice" NothingToClaim "$K_ALICE" "$TOKEN" "claimUnsold()"
expect_revert "claim unsold without buying" NothingToClaim "$K_TEAM" "$TOKEN" "claimUnsold()"
# 900M - 30,000 sold, split 2:1: alice gets floor(unsold * 2/3), the provider floor(unsold / 3).
unsold=$((900000000 - 30000))
expect_eq "alice's pro-rata share" "$(call "$TOKEN" "balanceOf(address)(uint256)" "$ALICE" | strip)" \
  "$(node -e "const u=${unsold}n*10n**18n; console.log((20000n*10n**18n + u*2n/3n).toString())")"
expect_eq "unclaimed keeps the rounding dust" "$(call "$TOKEN" "unclaimed()(uint256)" | strip)" \
  "$(node -e "const u=${unsold}n*10n**18n; console.log((u-u*2n/3n-u/3n).toString())")"

# ---- ERC20 after finalize ---------------------------------------------------------------------
tx "transfer" "$K_EARLY" "$TOKEN" "transfer(address,uint256)" "$PROV" "$(e18 100)"
expect_revert "transfer beyond the balance" InsufficientFunds "$K_PROV" "$TOKEN" "transfer(address,uint256)" "$ALICE" "$(e18 1000000000)"
expect_revert "transfer to the zero address" InvalidArgument "$K_EARLY" "$TOKEN" "transfer(address,uint256)" \
  0x0000000000000000000000000000000000000000 1
expect_revert "plain transfer to the Centralizer" InvalidArgument "$K_EARLY" "$TOKEN" "transfer(address,uint256)" "$CENT" 1
tx "transferFrom" "$K_MKT" "$TOKEN" "transferFrom(address,address,uint256)" "$BOUNTY" "$PROV" "$(e18 50)"
expect_eq "an infinite allowance stays infinite" "$(call "$TOKEN" "allowance(address,address)(uint256)" "$BOUNTY" "$MKT" | strip)" \
  115792089237316195423570985008687907853269984665640564039457584007913129639935
expect_revert "transferFrom without allowance" InsufficientFunds "$K_MKT" "$TOKEN" "transferFrom(address,address,uint256)" "$TEAM" "$PROV" 1

# ---- wallets ------------------------------------------------------------------------------------
tx "deposit" "$K_ALICE" "$CENT" "deposit(uint256)" "$(e18 100)"
expect_eq "alice's wallet" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$ALICE" | strip | tr '\n' ' ')" "$(e18 100) 0 "
expect_revert "deposit of zero" InvalidArgument "$K_ALICE" "$CENT" "deposit(uint256)" 0
expect_revert "withdraw more than the wallet" InsufficientFunds "$K_ALICE" "$CENT" "withdraw(uint256)" "$(e18 101)"

# ---- orders, signed off-chain -------------------------------------------------------------------
t1=$(now)
OFFER_T='(address,bytes16,bytes2,string,uint32,uint8,uint32,uint32,uint32,uint32,uint64,uint64,uint64,uint64,uint256,address,uint16,uint16,uint64,uint64)'
REQUEST_T='(address,uint32,bytes2[],string,uint32,uint8,uint32,uint32,uint16,uint32,bool,bool,uint64,uint64,uint256,uint256,bool,address,uint16,uint64,uint64)'
# typed DOC KIND JSON-MESSAGE: writes an eth_signTypedData_v4 document under the Centralizer's domain.
typed() {
  node -e '
const [kind, msg, chainId, contract] = process.argv.slice(1);
const T = {
  Offer: "address provider,bytes16 ip,bytes2 country,string region,uint32 asn,uint8 ipType,uint32 protocols,uint32 scopes,uint32 bandwidthKbps,uint32 capacity,uint64 availableFrom,uint64 availableUntil,uint64 minDuration,uint64 maxDuration,uint256 pricePerSecond,address market,uint16 feeBps,uint16 minRequesterRating,uint64 expiry,uint64 nonce",
  Request: "address requester,uint32 count,bytes2[] countries,string region,uint32 asn,uint8 ipTypes,uint32 protocols,uint32 scope,uint16 minProviderRating,uint32 minBandwidthKbps,bool exclusive,bool distinctSubnets,uint64 start,uint64 duration,uint256 maxPricePerSecond,uint256 budget,bool allOrNone,address market,uint16 feeBps,uint64 expiry,uint64 nonce",
  BalanceProof: "bytes32 dealId,uint256 amount",
  ClosingConsent: "bytes32 dealId,uint256 amount",
};
const fields = (s) => s.split(",").map((f) => { const [type, name] = f.split(" "); return { name, type }; });
const doc = {
  types: {
    EIP712Domain: fields("string name,string version,uint256 chainId,address verifyingContract"),
    [kind]: fields(T[kind]),
  },
  primaryType: kind,
  domain: { name: "IPSX", version: "1", chainId: Number(chainId), verifyingContract: contract },
  message: JSON.parse(msg),
};
console.log(JSON.stringify(doc, null, 1));' "$2" "$3" "$chain_id" "$CENT" >"$1"
}
sign() { "$CAST" wallet sign --private-key "$1" --data --from-file "$2"; }
# cross-checks a document against the C++ EIP-712 (ipsx) and the contract's hash function.
cross_check() {
  local name=$1 doc=$2 onchain=$3 sig=$4 signer=$5
  [[ $have_ipsx == 1 ]] || return 0
  local h
  h=$("$IPSX" wallet hash-typed-data "$doc" 2>&1)
  expect_eq "$name: C++ domain separator = contract's" "$(awk '/^domain_separator/{print $2}' <<<"$h")" \
    "$(call "$CENT" "domainSeparator()(bytes32)")"
  expect_eq "$name: C++ struct hash = contract's" "$(awk '/^message_hash/{print $2}' <<<"$h")" "$onchain"
  expect_eq "$name: C++ recovers cast's signature" "$("$IPSX" wallet recover --typed-data "$doc" --signature "$sig" 2>&1)" "$signer"
}

PRICE_OFFER=1000000000000000 PRICE_MAX=2000000000000000 PRICE=1500000000000000 DURATION=600
offer_json() { # offer_json NONCE
  cat <<EOF
{"provider":"$PROV","ip":"0x00000000000000000000ffff7f000002","country":"0x4445","region":"Berlin","asn":3320,
 "ipType":1,"protocols":7,"scopes":9,"bandwidthKbps":10000,"capacity":3,"availableFrom":$((t1 - 100)),
 "availableUntil":0,"minDuration":5,"maxDuration":86400,"pricePerSecond":"$PRICE_OFFER","market":"$MKT",
 "feeBps":250,"minRequesterRating":0,"expiry":$((t1 + 86400)),"nonce":$1}
EOF
}
offer_tuple() { echo "($PROV,0x00000000000000000000ffff7f000002,0x4445,\"Berlin\",3320,1,7,9,10000,3,$((t1 - 100)),0,5,86400,$PRICE_OFFER,$MKT,250,0,$((t1 + 86400)),$1)"; }
request_json() { # request_json COUNT NONCE
  cat <<EOF
{"requester":"$ALICE","count":$1,"countries":["0x4445","0x4652"],"region":"","asn":0,"ipTypes":2,"protocols":3,
 "scope":1,"minProviderRating":0,"minBandwidthKbps":1000,"exclusive":false,"distinctSubnets":false,"start":0,
 "duration":$DURATION,"maxPricePerSecond":"$PRICE_MAX","budget":"$(($1 * DURATION * PRICE_MAX))","allOrNone":false,
 "market":"$MKT","feeBps":250,"expiry":$((t1 + 86400)),"nonce":$2}
EOF
}
request_tuple() { echo "($ALICE,$1,[0x4445,0x4652],\"\",0,2,3,1,0,1000,false,false,0,$DURATION,$PRICE_MAX,$(($1 * DURATION * PRICE_MAX)),false,$MKT,250,$((t1 + 86400)),$2)"; }

typed "$work/offer.json" Offer "$(offer_json 1)"
typed "$work/request.json" Request "$(request_json 3 7)"
OFFER=$(offer_tuple 1) REQUEST=$(request_tuple 3 7)
OSIG=$(sign "$K_PROV" "$work/offer.json")
RSIG=$(sign "$K_ALICE" "$work/request.json")
OHASH=$(call "$CENT" "hashOffer($OFFER_T)(bytes32)" "$OFFER")
RHASH=$(call "$CENT" "hashRequest($REQUEST_T)(bytes32)" "$REQUEST")
cross_check "offer" "$work/offer.json" "$OHASH" "$OSIG" "$PROV"
# One request's IPs come from distinct offers: two more offers of the provider fill deals 1 and 2.
for n in 2 3; do
  typed "$work/offer$n.json" Offer "$(offer_json $n)"
  printf -v "OFFER$n" '%s' "$(offer_tuple $n)"
  printf -v "OSIG$n" '%s' "$(sign "$K_PROV" "$work/offer$n.json")"
  printf -v "OHASH$n" '%s' "$(call "$CENT" "hashOffer($OFFER_T)(bytes32)" "$(offer_tuple $n)")"
done
cross_check "request" "$work/request.json" "$RHASH" "$RSIG" "$ALICE"

OPEN_SIG="openDeal($OFFER_T,bytes,$REQUEST_T,bytes,uint256)"
expect_revert "openDeal by someone else than the market" NotAParty "$K_DEPLOY" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" "$REQUEST" "$RSIG" "$PRICE"
expect_revert "openDeal with the request signed by the provider" BadOrder "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" "$REQUEST" "$OSIG" "$PRICE"
expect_revert "openDeal above the request's maximum price" TermsMismatch "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" "$REQUEST" "$RSIG" $((PRICE_MAX + 1))
expect_revert "openDeal below the offer's price" TermsMismatch "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" "$REQUEST" "$RSIG" $((PRICE_OFFER - 1))
expect_revert "openDeal with an offer price that overflows over 30 days" Overflow "$K_MKT" "$CENT" "$OPEN_SIG" \
  "${OFFER/,$PRICE_OFFER,/,115792089237316195423570985008687907853269984665640564039457584007913129639935,}" "$OSIG" "$REQUEST" "$RSIG" "$PRICE"
expect_revert "openDeal with an unassigned country" BadOrder "$K_MKT" "$CENT" "$OPEN_SIG" "${OFFER/0x4445/0x5858}" "$OSIG" "$REQUEST" "$RSIG" "$PRICE"

deal_id() { "$CAST" keccak "$("$CAST" abi-encode "f(bytes32,bytes32,uint256)" "${2:-$OHASH}" "$RHASH" "$1")"; }
opened() { # opened FILL [OFFER_HASH]: the receipt's DealOpened names the expected id
  local id
  id=$(deal_id "$1" "${2:-$OHASH}")
  if jq -e --arg id "$id" --arg c "${CENT,,}" '[.logs[] | select((.address|ascii_downcase) == $c and .topics[1] == $id)] | length == 1' <<<"$last" >/dev/null; then
    ok "deal $1 id is keccak256(offerHash || requestHash || $1)"
  else bad "deal $1 id: no DealOpened for $id"; fi
  echo "$id" >"$work/deal$1"
  # The deal's terms, which every later call about it carries (the contract keeps their hash):
  # from the event, as a user without the node would take them.
  local log provider requester f
  log=$(jq -c --arg id "$id" '[.logs[] | select(.topics[1] == $id)][0]' <<<"$last")
  provider=0x$(jq -r '.topics[2]' <<<"$log" | cut -c27-)
  requester=0x$(jq -r '.topics[3]' <<<"$log" | cut -c27-)
  mapfile -t f < <("$CAST" abi-decode "f()(address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)" \
    "$(jq -r '.data' <<<"$log")" | strip)
  # (offerHash, requestHash, fill, provider, requester, market, feeBps, start, duration, price)
  echo "(${f[5]},${f[6]},${f[7]},$provider,$requester,${f[0]},${f[8]},${f[4]},${f[2]},${f[1]})" >"$work/terms$1"
  expect_eq "deal $1's terms hash to what the contract keeps under (request, fill)" \
    "$(call "$CENT" "deal(bytes32,uint256)(bytes32,uint256,uint256,uint64,uint8,uint8,bool,bool)" "${f[6]}" "${f[7]}" | head -1)" \
    "$("$CAST" keccak "$("$CAST" abi-encode "f($TERMS_T)" "$(cat "$work/terms$1")")")"
}
TERMS_T="(bytes32,bytes32,uint64,address,address,address,uint16,uint64,uint64,uint256)"
TZ="(0x$(printf '%064d' 0),0x$(printf '%064d' 0),0,0x$(printf '%040d' 0),0x$(printf '%040d' 0),0x$(printf '%040d' 0),0,0,0,0)"
tx "openDeal" "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" "$REQUEST" "$RSIG" "$PRICE" && opened 0
D0=$(cat "$work/deal0") T0=$(cat "$work/terms0")
COST=$((PRICE * DURATION))
expect_eq "alice's wallet after open" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$ALICE" | strip | tr '\n' ' ')" \
  "$(node -e "console.log((100n*10n**18n-${COST}n).toString())") $COST "

# ---- deal 0: claims, then the provider closes with a final proof ---------------------------------
proof() { # proof KEY KIND DEAL AMOUNT -> signature
  typed "$work/p.json" "$2" "{\"dealId\":\"$3\",\"amount\":\"$4\"}"
  sign "$1" "$work/p.json"
}
P1=$(proof "$K_ALICE" BalanceProof "$D0" 300000000000000000)
typed "$work/bp.json" BalanceProof "{\"dealId\":\"$D0\",\"amount\":\"300000000000000000\"}"
cross_check "balance proof" "$work/bp.json" "$(call "$CENT" "hashBalanceProof(bytes32,uint256)(bytes32)" "$D0" 300000000000000000)" "$P1" "$ALICE"
expect_revert "claim by the market" NotAParty "$K_MKT" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" "$T0" 300000000000000000 "$P1"
expect_revert "claim with a proof the provider signed" BadBalanceProof "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" "$T0" 300000000000000000 \
  "$(proof "$K_PROV" BalanceProof "$D0" 300000000000000000)"
expect_revert "claim of an unknown deal" UnknownDeal "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "0x$(printf '%064d' 1)" "$TZ" 1 "$P1"
# Attack: the deal's own id with forged terms (no commission; a larger deposit; another deal's
# fill) is refused before anything moves: the contract keeps the terms' hash.
IFS=, read -r t_oh t_rh t_fill t_p t_r t_m t_fee t_start t_dur t_price <<<"${T0:1:${#T0}-2}"
expect_revert "claim with the deal's terms but no commission" UnknownDeal "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" \
  "($t_oh,$t_rh,$t_fill,$t_p,$t_r,$t_m,0,$t_start,$t_dur,$t_price)" 300000000000000000 "$P1"
expect_revert "claim with the deal's terms at ten times the price" UnknownDeal "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" \
  "($t_oh,$t_rh,$t_fill,$t_p,$t_r,$t_m,$t_fee,$t_start,$t_dur,$((t_price * 10)))" 300000000000000000 "$P1"
expect_revert "claim with the terms of the request's next fill" UnknownDeal "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" \
  "($t_oh,$t_rh,1,$t_p,$t_r,$t_m,$t_fee,$t_start,$t_dur,$t_price)" 300000000000000000 "$P1"
expect_revert "claim above the deposit" BadBalanceProof "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" "$T0" $((COST + 1)) \
  "$(proof "$K_ALICE" BalanceProof "$D0" $((COST + 1)))"
tx "claim" "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" "$T0" 300000000000000000 "$P1"
expect_revert "claim the same proof again" BadBalanceProof "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" "$T0" 300000000000000000 "$P1"
expect_eq "provider's wallet: 0.3 less 2.5 %" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$PROV" | strip | head -1)" 292500000000000000
expect_eq "market's commission" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$MKT" | strip | head -1)" 7500000000000000
expect_revert "rate an open deal" DealState "$K_ALICE" "$CENT" "rate(bytes32,$TERMS_T,uint8)" "$D0" "$T0" 5
P2=$(proof "$K_ALICE" BalanceProof "$D0" 600000000000000000)
tx "closeDeal" "$K_PROV" "$CENT" "closeDeal(bytes32,$TERMS_T,uint256,bytes,uint8)" "$D0" "$T0" 600000000000000000 "$P2" 1
expect_revert "close a closed deal" DealState "$K_PROV" "$CENT" "closeDeal(bytes32,$TERMS_T,uint256,bytes,uint8)" "$D0" "$T0" 0 0x 1
expect_revert "claim on a closed deal" DealState "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D0" "$T0" 700000000000000000 \
  "$(proof "$K_ALICE" BalanceProof "$D0" 700000000000000000)"

# ---- deal 1: cooperative close ---------------------------------------------------------------------
expect_revert "a second deal of the request on the same offer" OrderExhausted "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" "$REQUEST" "$RSIG" "$PRICE"
tx "openDeal" "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER2" "$OSIG2" "$REQUEST" "$RSIG" "$PRICE" && opened 1 "$OHASH2"
D1=$(cat "$work/deal1") T1=$(cat "$work/terms1")
P3=$(proof "$K_ALICE" BalanceProof "$D1" 500000000000000000)
C3=$(proof "$K_PROV" ClosingConsent "$D1" 500000000000000000)
expect_revert "cooperative close with the consent for another amount" BadBalanceProof "$K_ALICE" "$CENT" \
  "cooperativeClose(bytes32,$TERMS_T,uint256,bytes,bytes,uint8)" "$D1" "$T1" 500000000000000000 "$P3" "$(proof "$K_PROV" ClosingConsent "$D1" 1)" 1
expect_revert "close reason out of range" InvalidArgument "$K_ALICE" "$CENT" \
  "cooperativeClose(bytes32,$TERMS_T,uint256,bytes,bytes,uint8)" "$D1" "$T1" 500000000000000000 "$P3" "$C3" 7
tx "cooperativeClose" "$K_ALICE" "$CENT" "cooperativeClose(bytes32,$TERMS_T,uint256,bytes,bytes,uint8)" "$D1" "$T1" 500000000000000000 "$P3" "$C3" 1

# ---- deal 2: uncooperative close, a challenge with a higher proof, settle --------------------------
tx "openDeal" "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER3" "$OSIG3" "$REQUEST" "$RSIG" "$PRICE" && opened 2 "$OHASH3"
D2=$(cat "$work/deal2") T2=$(cat "$work/terms2")
expect_revert "a fourth deal on a request for three" OrderExhausted "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER2" "$OSIG2" "$REQUEST" "$RSIG" "$PRICE"
expect_revert "uncooperative close by the provider" NotAParty "$K_PROV" "$CENT" "uncooperativeClose(bytes32,$TERMS_T,uint256,uint8)" "$D2" "$T2" 1 2
tx "uncooperativeClose" "$K_ALICE" "$CENT" "uncooperativeClose(bytes32,$TERMS_T,uint256,uint8)" "$D2" "$T2" 100000000000000000 2
expect_revert "settle during the challenge period" ChallengePeriod "$K_DEPLOY" "$CENT" "settle(bytes32,$TERMS_T)" "$D2" "$T2"
tx "claim" "$K_PROV" "$CENT" "claim(bytes32,$TERMS_T,uint256,bytes)" "$D2" "$T2" 400000000000000000 \
  "$(proof "$K_ALICE" BalanceProof "$D2" 400000000000000000)"
warp 3601
tx "settle" "$K_DEPLOY" "$CENT" "settle(bytes32,$TERMS_T)" "$D2" "$T2"
closed=$(jq -r --arg c "${CENT,,}" '[.logs[] | select((.address|ascii_downcase) == $c)] | last | .data' <<<"$last")
expect_eq "settled on the best proof: paid 0.4, refunded 0.5" \
  "$("$CAST" abi-decode "f()(uint8,uint8,uint256,uint256)" "$closed" | strip | tr '\n' ' ')" "2 2 400000000000000000 500000000000000000 "

# ---- ratings -------------------------------------------------------------------------------------
tx "rate" "$K_ALICE" "$CENT" "rate(bytes32,$TERMS_T,uint8)" "$D0" "$T0" 5
tx "rate" "$K_PROV" "$CENT" "rate(bytes32,$TERMS_T,uint8)" "$D0" "$T0" 4
expect_revert "rate twice" AlreadyRated "$K_ALICE" "$CENT" "rate(bytes32,$TERMS_T,uint8)" "$D0" "$T0" 5
expect_revert "rate 6" BadRating "$K_ALICE" "$CENT" "rate(bytes32,$TERMS_T,uint8)" "$D1" "$T1" 6
expect_revert "rate by a stranger" NotAParty "$K_MKT" "$CENT" "rate(bytes32,$TERMS_T,uint8)" "$D1" "$T1" 3
expect_eq "provider's rating" "$(call "$CENT" "rating(address)(uint64,uint64)" "$PROV" | strip | tr '\n' ' ')" "1 5 "

# ---- a batch: several operations of one sender in one transaction, all or none ------------------
RATE_D1=$("$CAST" calldata "rate(bytes32,$TERMS_T,uint8)" "$D1" "$T1" 4)
RATE_D2=$("$CAST" calldata "rate(bytes32,$TERMS_T,uint8)" "$D2" "$T2" 3)
expect_revert "a batch whose second operation fails (its first undone)" BadRating "$K_ALICE" "$CENT" "batch(bytes[])" \
  "[$RATE_D1,$("$CAST" calldata "rate(bytes32,$TERMS_T,uint8)" "$D2" "$T2" 6)]"
expect_revert "a batch holding a token transfer" InvalidArgument "$K_ALICE" "$CENT" "batch(bytes[])" \
  "[$RATE_D1,$("$CAST" calldata "transfer(address,uint256)" "$PROV" 1)]"
expect_revert "a batch in a batch" InvalidArgument "$K_ALICE" "$CENT" "batch(bytes[])" \
  "[$("$CAST" calldata "batch(bytes[])" "[$RATE_D1]")]"
expect_revert "an empty batch" InvalidArgument "$K_ALICE" "$CENT" "batch(bytes[])" "[]"
expect_revert "a batch with a forged deal's terms" UnknownDeal "$K_ALICE" "$CENT" "batch(bytes[])" \
  "[$RATE_D1,$("$CAST" calldata "rate(bytes32,$TERMS_T,uint8)" "$D2" "$T1" 3)]"
tx "batch" "$K_ALICE" "$CENT" "batch(bytes[])" "[$RATE_D1,$RATE_D2]"
expect_eq "both of the batch's ratings" "$(call "$CENT" "rating(address)(uint64,uint64)" "$PROV" | strip | tr '\n' ' ')" "3 12 "
expect_eq "the batch's two Rated events" "$(jq '[.logs[] | select(.topics[0] == "'"$("$CAST" keccak 'Rated(bytes32,address,address,uint8)')"'")] | length' <<<"$last")" 2

# ---- cancellation, withdrawal ----------------------------------------------------------------------
tx "cancelOrder" "$K_PROV" "$CENT" "cancelOrder(bytes32)" "$OHASH"
expect_revert "cancel twice" BadOrder "$K_PROV" "$CENT" "cancelOrder(bytes32)" "$OHASH"
typed "$work/request2.json" Request "$(request_json 1 8)"
expect_revert "openDeal on a cancelled offer" BadOrder "$K_MKT" "$CENT" "$OPEN_SIG" "$OFFER" "$OSIG" \
  "$(request_tuple 1 8)" "$(sign "$K_ALICE" "$work/request2.json")" "$PRICE"
tx "withdraw" "$K_PROV" "$CENT" "withdraw(uint256)" "$(e18 1)"

# ---- where every token is --------------------------------------------------------------------------
# alice: 100 - 3 * 0.9 + refunds 0.3 + 0.4 + 0.5 = 98.5; provider: 0.585 + 0.4875 + 0.39 - 1 withdrawn;
# market: 2.5 % of the 1.5 paid.
expect_eq "alice's wallet at the end" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$ALICE" | strip | tr '\n' ' ')" "98500000000000000000 0 "
expect_eq "provider's wallet at the end" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$PROV" | strip | tr '\n' ' ')" "462500000000000000 0 "
expect_eq "market's wallet at the end" "$(call "$CENT" "wallet(address)(uint256,uint256)" "$MKT" | strip | tr '\n' ' ')" "37500000000000000 0 "
sup=$(call "$CENT" "supply()(uint256,uint256,uint256,uint256,uint256,uint256,bool)" | strip | tr '\n' ' ')
read -r s_acc s_bal s_res s_pool s_unc s_tot s_ok <<<"$sup"
expect_eq "supply conserved" "$s_ok" true
expect_eq "supply parts sum to the total" "$(node -e "console.log((${s_acc}n+${s_bal}n+${s_res}n+${s_pool}n+${s_unc}n).toString())")" "$s_tot"
expect_eq "no reserve left" "$s_res" 0

# ---- a sale that fails its soft cap ---------------------------------------------------------------
# A second token with a soft cap of 5 coins (its Centralizer never needed: nothing unlocks). The
# coin stays in the token; below the soft cap at the end, finalize reverts, transfers stay locked
# and each buyer takes its coin back once: cast reads the balances.
TOKEN_CTOR="constructor(address,address,address,uint256,uint256,uint256,uint64,uint64,address,address)"
# soft_cap_args TREASURY SOFT_CAP: a token's constructor arguments, hard cap 10 coins, its sale
# window open for ten minutes from now (its Centralizer, never needed, the deployer).
soft_cap_args() {
  local t
  t=$(now)
  echo "$EARLY" "$BOUNTY" "$TEAM" "$RATE" "$(e18 10)" "$(e18 "$2")" "$((t - 5))" "$((t + 600))" "$1" "$DEPLOYER"
}
# soft_cap_token NAME TREASURY: deploys one with a soft cap of 5 coins; its address in TOKEN_AT.
soft_cap_token() {
  # shellcheck disable=SC2046  # the arguments are words
  tx "$1" "$K_DEPLOY" --create "$(jq -r .bytecode "$art/IPSXToken.json")" "$TOKEN_CTOR" $(soft_cap_args "$2" 5)
  TOKEN_AT=$("$CAST" to-check-sum-address "$(jq -r .contractAddress <<<"$last")")
}
soft_cap_token "IPSXToken with a soft cap (deploy)" "$TREAS"
SOFT=$TOKEN_AT
# shellcheck disable=SC2046
expect_revert_data "a soft cap above the hard cap" InvalidArgument "$K_DEPLOY" - \
  "$(jq -r .bytecode "$art/IPSXToken.json")$("$CAST" abi-encode "$TOKEN_CTOR" $(soft_cap_args "$TREAS" 11) | cut -c3-)"
treas_before=$("$CAST" balance "$TREAS" --rpc-url "$RPC")
tx "buy below the soft cap" "$K_ALICE" --value "$(e18 2)" "$SOFT" "buy()"
tx "plain transfer below the soft cap" "$K_PROV" --value "$(e18 1)" "$SOFT"
expect_eq "the token holds the coin" "$("$CAST" balance "$SOFT" --rpc-url "$RPC")" "$(e18 3)"
expect_eq "the treasury has not been paid" "$("$CAST" balance "$TREAS" --rpc-url "$RPC")" "$treas_before"
expect_revert "refund while the sale is open" SaleNotRefundable "$K_ALICE" "$SOFT" "refund()"
warp 700
expect_revert "finalize below the soft cap" SaleNotFinalizable "$K_TEAM" "$SOFT" "finalizeSale()"
expect_revert "transfer after a failed sale" TransfersLocked "$K_EARLY" "$SOFT" "transfer(address,uint256)" "$ALICE" 1
expect_revert "refund without buying" NothingToClaim "$K_TEAM" "$SOFT" "refund()"
alice_before=$("$CAST" balance "$ALICE" --rpc-url "$RPC")
tx "refund" "$K_ALICE" "$SOFT" "refund()"
fee=$(node -e "console.log((BigInt('$(jq -r .gasUsed <<<"$last")') * BigInt('$(jq -r .effectiveGasPrice <<<"$last")')).toString())")
expect_eq "alice has her 2 coins back (less the refund's gas)" "$("$CAST" balance "$ALICE" --rpc-url "$RPC")" \
  "$(node -e "console.log((${alice_before}n + $(e18 2)n - ${fee}n).toString())")"
expect_eq "alice's tokens went back to the pool" "$(call "$SOFT" "balanceOf(address)(uint256)" "$ALICE" | strip)" 0
expect_revert "refund twice" NothingToClaim "$K_ALICE" "$SOFT" "refund()"
tx "refund" "$K_PROV" "$SOFT" "refund()"
expect_eq "the token holds no coin" "$("$CAST" balance "$SOFT" --rpc-url "$RPC")" 0
expect_eq "raised 0, refunded 3, pool whole" \
  "$(call "$SOFT" "raised()(uint256)" | strip) $(call "$SOFT" "refunded()(uint256)" | strip) $(call "$SOFT" "pool()(uint256)" | strip)" \
  "0 $(e18 3) $(e18 900000000)"

# A treasury that refuses coin (the first Centralizer: no receive) does not keep a sale over its
# soft cap from finalizing: the coin waits in treasuryOwed, and payTreasury() retries.
soft_cap_token "IPSXToken with a refusing treasury (deploy)" "$CENT"
OWED=$TOKEN_AT
tx "buy over the soft cap" "$K_ALICE" --value "$(e18 6)" "$OWED" "buy()"
warp 700
tx "finalize with a refusing treasury" "$K_TEAM" "$OWED" "finalizeSale()"
expect_eq "the refused coin is owed to the treasury" "$(call "$OWED" "treasuryOwed()(uint256)" | strip)" "$(e18 6)"
expect_revert "payTreasury while the treasury still refuses" NativeTransferFailed "$K_TEAM" "$OWED" "payTreasury()"
tx "transfer after that finalize" "$K_ALICE" "$OWED" "transfer(address,uint256)" "$PROV" 1

# A treasury built to make finalize run out of gas (it burns what it is given, then reverts with
# all the memory it grew): finalize still completes, the coin owed.
BOMB_RUNTIME=5b600059526120005a11600057596000fd
tx "a gas-burning treasury (deploy)" "$K_DEPLOY" --create "0x601180600b6000396000f3$BOMB_RUNTIME"
BOMB=$("$CAST" to-check-sum-address "$(jq -r .contractAddress <<<"$last")")
soft_cap_token "IPSXToken with a gas-burning treasury (deploy)" "$BOMB"
BURNT=$TOKEN_AT
tx "buy over the soft cap" "$K_ALICE" --value "$(e18 6)" "$BURNT" "buy()"
warp 700
tx "finalize with a gas-burning treasury" "$K_TEAM" --gas-limit 1000000 "$BURNT" "finalizeSale()"
expect_eq "finalized, the coin owed to that treasury" \
  "$(call "$BURNT" "finalized()(bool)") $(call "$BURNT" "treasuryOwed()(uint256)" | strip)" "true $(e18 6)"

# ---- gas -------------------------------------------------------------------------------------------
echo
echo "| function | gas used (each call, from the receipts) |"
echo "|---|---|"
for f in "${gas_order[@]}"; do echo "| \`$f\` | ${gas[$f]// /, } |"; done
echo
finish
