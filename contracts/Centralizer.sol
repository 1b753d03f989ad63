// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IPSXToken} from "./IPSXToken.sol";
import "./LedgerErrors.sol";

/// @title The Centralizer (R3): wallets, signed orders, deals as payment channels (R9), the
/// market's commission (R12) and ratings (R4), as docs/ledger.md specifies them.
/// @notice Orders, balance proofs and closing consents are EIP-712 under the domain
/// {name "IPSX", version "1", chainId, verifyingContract = this contract}, with exactly the types
/// of docs/orders.md (src/ledger/orders.cc), so what a wallet signed for the C++ side verifies
/// here. Every rejection is one of the ledger's errors (LedgerErrors.sol).
contract Centralizer is EIP712 {
    // ---- Types ---------------------------------------------------------------------------------

    /// docs/orders.md, field for field, in the EIP-712 order.
    struct Offer {
        address provider;
        bytes16 ip;
        bytes2 country;
        string region;
        uint32 asn;
        uint8 ipType;
        uint32 protocols;
        uint32 scopes;
        uint32 bandwidthKbps;
        uint32 capacity;
        uint64 availableFrom;
        uint64 availableUntil;
        uint64 minDuration;
        uint64 maxDuration;
        uint256 pricePerSecond;
        address market;
        uint16 feeBps;
        uint16 minRequesterRating;
        uint64 expiry;
        uint64 nonce;
    }

    struct Request {
        address requester;
        uint32 count;
        bytes2[] countries;
        string region;
        uint32 asn;
        uint8 ipTypes;
        uint32 protocols;
        uint32 scope;
        uint16 minProviderRating;
        uint32 minBandwidthKbps;
        bool exclusive;
        bool distinctSubnets;
        uint64 start;
        uint64 duration;
        uint256 maxPricePerSecond;
        uint256 budget;
        bool allOrNone;
        address market;
        uint16 feeBps;
        uint64 expiry;
        uint64 nonce;
    }

    /// DealState of src/ledger/ledger.h is this minus one (open = 0, closing = 1, closed = 2);
    /// None marks an id with no deal.
    enum DealStatus {
        None,
        Open,
        Closing,
        Closed
    }

    /// How a deal closed (the `how` of deal_closed).
    enum CloseHow {
        Provider,
        Cooperative,
        Settled
    }

    /// A deal as stored: six slots, five written when it opens (the gas of a deal is mostly
    /// its fresh storage). Amounts fit 96 bits: each is at most the deposit, at most a wallet's
    /// balance, at most the 1.8e27 of the supply (< 2^96 = 7.9e28). The deposit is not stored:
    /// it is pricePerSecond * duration. deal() answers the full-width DealView.
    struct Deal {
        // slot: 20 + 2 + 8 + 1 + 1
        address provider;
        uint16 feeBps;
        uint64 start; // unix seconds
        DealStatus status;
        uint8 reason; // CloseReason 0..6
        // slot: 20 + 8 + 1 + 1
        address requester;
        uint64 duration; // seconds
        bool ratedByProvider;
        bool ratedByRequester;
        // slot: 20 + 12
        address market;
        uint96 admitted; // the requester's admission in an uncooperative close
        bytes32 offerHash;
        bytes32 requestHash;
        // slot: 12 + 12 + 8
        uint96 pricePerSecond;
        uint96 claimed; // paid so far, commission included
        uint64 challengeEnds; // unix seconds; set by uncooperativeClose
    }

    /// The deal as deal() answers it (docs/contracts.md; the C++ backend's DealView).
    struct DealView {
        address provider;
        uint16 feeBps;
        uint64 start;
        DealStatus status;
        uint8 reason;
        address requester;
        uint64 duration;
        bool ratedByProvider;
        bool ratedByRequester;
        address market;
        uint64 challengeEnds;
        bytes32 offerHash;
        bytes32 requestHash;
        uint256 pricePerSecond;
        uint256 deposit;
        uint256 claimed;
        uint256 admitted;
    }

    /// One slot: a wallet's tokens fit 128 bits (the supply is 1.8e27 < 2^128).
    struct Wallet {
        uint128 balance;
        uint128 reserved;
    }

    /// One slot. `spent` adds up the deposits of a request's deals: at most count (uint32) of
    /// them, each at most the supply, 4.3e9 * 1.8e27 < 2^128.
    struct OrderUse {
        uint64 fills; // deals opened (requests)
        uint32 open; // deals not closed (offers)
        bool exclusiveOpen; // an exclusive deal is open on the offer
        uint128 spent; // budget used (requests)
    }

    /// The sums of every wallet's balance and reserve, in one slot.
    struct Totals {
        uint128 balance;
        uint128 reserved;
    }

    struct Rating {
        uint64 count;
        uint64 sum;
    }

    // ---- Constants (src/ledger/orders.h) -----------------------------------------------------

    uint64 internal constant MIN_DURATION = 5;
    uint64 internal constant MAX_DURATION = 30 days;
    uint16 internal constant MAX_FEE_BPS = 10_000;
    uint16 internal constant MAX_RATING = 500;
    uint256 internal constant RATING_PRIOR_WEIGHT = 5; // kRatingPriorWeight (src/ledger/rating.h)
    uint256 internal constant RATING_PRIOR_MEAN = 300; // kRatingPriorMean
    uint32 internal constant ALL_PROTOCOLS = 31;
    uint32 internal constant ALL_SCOPES = 31;
    uint8 internal constant MAX_CLOSE_REASON = 6;
    uint8 internal constant REASON_COMPLETED = 1; // CloseReason::completed
    uint8 internal constant REASON_EXPIRED = 6; // CloseReason::expired
    /// The challenge period's bounds, as GenesisConfig::validate() (src/ledger/genesis.h) sets them.
    uint64 internal constant MIN_CHALLENGE_PERIOD = 60;
    uint64 internal constant MAX_CHALLENGE_PERIOD = 30 days;

    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "Offer(address provider,bytes16 ip,bytes2 country,string region,uint32 asn,uint8 ipType,"
        "uint32 protocols,uint32 scopes,uint32 bandwidthKbps,uint32 capacity,uint64 availableFrom,"
        "uint64 availableUntil,uint64 minDuration,uint64 maxDuration,uint256 pricePerSecond,"
        "address market,uint16 feeBps,uint16 minRequesterRating,uint64 expiry,uint64 nonce)"
    );
    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "Request(address requester,uint32 count,bytes2[] countries,string region,uint32 asn,"
        "uint8 ipTypes,uint32 protocols,uint32 scope,uint16 minProviderRating,"
        "uint32 minBandwidthKbps,bool exclusive,bool distinctSubnets,uint64 start,uint64 duration,"
        "uint256 maxPricePerSecond,uint256 budget,bool allOrNone,address market,uint16 feeBps,"
        "uint64 expiry,uint64 nonce)"
    );
    bytes32 public constant BALANCE_PROOF_TYPEHASH = keccak256("BalanceProof(bytes32 dealId,uint256 amount)");
    bytes32 public constant CLOSING_CONSENT_TYPEHASH = keccak256("ClosingConsent(bytes32 dealId,uint256 amount)");
    bytes32 internal constant USAGE_RECEIPT_TYPEHASH =
        keccak256("UsageReceipt(bytes32 dealId,uint64 count,bytes32 root)");

    // The 249 assigned ISO 3166-1 alpha-2 codes of src/core/country.cc as a bitmap: bit
    // (a - 'A') * 26 + (b - 'A') for the code "ab", over three words.
    uint256 internal constant COUNTRIES_0 = 0x0340400f7818068d0015fb9fb0095c000e00d48015843f27deddbdefeedf5978;
    uint256 internal constant COUNTRIES_1 = 0x9fbb3ae7fdf1510040000001538f3c400100084b25d7fffcfd4f8141f42b1d00;
    uint256 internal constant COUNTRIES_2 = 0x000000000000000000000001004004080010000000004002004085570410419a;

    // ---- State ---------------------------------------------------------------------------------

    IPSXToken public immutable token;
    /// How long a provider has to answer an uncooperative close, in seconds.
    uint64 public immutable challengePeriod;

    mapping(address => Wallet) internal wallets;
    Totals internal totals;
    mapping(bytes32 => Deal) internal deals;
    mapping(bytes32 => OrderUse) internal orders;
    mapping(address => mapping(bytes32 => bool)) internal cancelled;
    mapping(address => Rating) internal ratings;
    /// request => offer => a deal of the request was opened on the offer (never cleared).
    mapping(bytes32 => mapping(bytes32 => bool)) internal filledBy;
    /// request => subnet (_subnetOf) => an IP of the request is in it (distinctSubnets requests).
    mapping(bytes32 => mapping(bytes6 => bool)) internal subnetTaken;
    /// deal => the root of its usage log the requester signed for, and how many records it covers.
    struct Usage {
        uint64 count;
        bytes32 root;
    }
    mapping(bytes32 => Usage) internal usages;

    // ---- Events (docs/ledger.md) ---------------------------------------------------------------

    event Deposit(address indexed account, uint256 amount);
    event Withdrawal(address indexed account, uint256 amount);
    event OrderCancelled(address indexed owner, bytes32 indexed order);
    event DealOpened(
        bytes32 indexed dealId,
        address indexed provider,
        address indexed requester,
        address market,
        uint256 price,
        uint64 duration,
        uint256 deposit,
        uint64 start
    );
    /// amount: the new cumulative amount; paid: the increment paid now (gross); fee: its commission.
    event Claimed(bytes32 indexed dealId, uint256 amount, uint256 paid, uint256 fee);
    event DealClosing(bytes32 indexed dealId, uint256 admitted, uint64 challengeEnds, uint8 reason);
    /// paid: total paid over the deal's life (gross); refunded: what returned to the requester.
    event DealClosed(bytes32 indexed dealId, CloseHow how, uint8 reason, uint256 paid, uint256 refunded);
    event Rated(bytes32 indexed dealId, address indexed by, address indexed of_, uint8 score);
    event UsageRecorded(bytes32 indexed dealId, uint64 count, bytes32 root);

    /// @param token_ the IPSX token, deployed first with this contract's address as its centralizer.
    /// @param challengePeriod_ seconds, 60 .. 30 days (the embedded default is one hour).
    constructor(IPSXToken token_, uint64 challengePeriod_) EIP712("IPSX", "1") {
        if (address(token_).code.length == 0 || token_.centralizer() != address(this)) {
            revert InvalidArgument("the token does not name this contract as its centralizer");
        }
        if (challengePeriod_ < MIN_CHALLENGE_PERIOD || challengePeriod_ > MAX_CHALLENGE_PERIOD) {
            revert InvalidArgument("challenge_period must be 60 s .. 30 days");
        }
        token = token_;
        challengePeriod = challengePeriod_;
    }

    // ---- Wallets (R3) --------------------------------------------------------------------------

    /// deposit(amount): finalized (TransfersLocked); amount > 0 (InvalidArgument); token balance
    /// >= amount (InsufficientFunds). Token balance -> wallet balance.
    function deposit(uint256 amount) external {
        if (!token.finalized()) revert TransfersLocked("tokens move only after the sale is finalized");
        if (amount == 0) revert InvalidArgument("deposit of zero");
        if (token.balanceOf(msg.sender) < amount) revert InsufficientFunds("token balance is too low");
        // amount <= the sender's token balance <= the supply: the casts are exact.
        wallets[msg.sender].balance += uint128(amount);
        totals.balance += uint128(amount);
        token.centralizerPull(msg.sender, amount);
        emit Deposit(msg.sender, amount);
    }

    /// withdraw(amount): amount > 0; wallet balance >= amount (InsufficientFunds).
    function withdraw(uint256 amount) external {
        if (amount == 0) revert InvalidArgument("withdrawal of zero");
        Wallet storage w = wallets[msg.sender];
        if (w.balance < amount) revert InsufficientFunds("wallet balance is too low");
        w.balance -= uint128(amount); // amount <= w.balance
        totals.balance -= uint128(amount);
        // The token's transfer: the sale is finalized (there was a deposit), `to` is the caller.
        token.transfer(msg.sender, amount);
        emit Withdrawal(msg.sender, amount);
    }

    // ---- Orders --------------------------------------------------------------------------------

    /// cancelOrder(orderHash): by its owner, once (BadOrder).
    function cancelOrder(bytes32 orderHash) external {
        if (cancelled[msg.sender][orderHash]) revert BadOrder("order already cancelled");
        cancelled[msg.sender][orderHash] = true;
        emit OrderCancelled(msg.sender, orderHash);
    }

    // ---- Deals ---------------------------------------------------------------------------------

    /// openDeal: by the market both orders name. The checks of docs/ledger.md in the order of
    /// State::apply (src/ledger/state.cc).
    function openDeal(
        Offer calldata offer,
        bytes calldata offerSignature,
        Request calldata request,
        bytes calldata requestSignature,
        uint256 pricePerSecond
    ) external returns (bytes32 dealId) {
        if (msg.sender != offer.market || msg.sender != request.market) {
            revert NotAParty("only the market both orders name may open their deal");
        }
        if (offer.feeBps != request.feeBps) revert TermsMismatch("the orders name different fees");
        _validateOffer(offer);
        _validateRequest(request);
        bytes32 offerHash = hashOffer(offer);
        bytes32 requestHash = hashRequest(request);
        if (_recover(_hashTypedDataV4(offerHash), offerSignature) != offer.provider) {
            revert BadOrder("offer: signature is not the provider's");
        }
        if (_recover(_hashTypedDataV4(requestHash), requestSignature) != request.requester) {
            revert BadOrder("request: signature is not the requester's");
        }
        if (cancelled[offer.provider][offerHash]) revert BadOrder("offer: cancelled");
        if (cancelled[request.requester][requestHash]) revert BadOrder("request: cancelled");
        if (block.timestamp > offer.expiry) revert BadOrder("offer: expired");
        if (block.timestamp > request.expiry) revert BadOrder("request: expired");
        _checkFit(offer, request, pricePerSecond, block.timestamp);
        // The minimum ratings, against the ledger's own ratings, as the market's filter.
        if (request.minProviderRating > 0 && _ratingOf(offer.provider) < request.minProviderRating) {
            revert TermsMismatch("request.minProviderRating: the provider's rating is below this minimum");
        }
        if (offer.minRequesterRating > 0 && _ratingOf(request.requester) < offer.minRequesterRating) {
            revert TermsMismatch("offer.minRequesterRating: the requester's rating is below this minimum");
        }

        OrderUse storage ru = orders[requestHash];
        OrderUse storage ou = orders[offerHash];
        if (ru.fills >= request.count) revert OrderExhausted("request: every IP is already filled");
        if (ou.open >= offer.capacity) revert OrderExhausted("offer: at capacity");
        if (ou.exclusiveOpen) revert OrderExhausted("offer: leased exclusively");
        if (request.exclusive && ou.open > 0) {
            revert OrderExhausted("offer: shared, the request wants it exclusively");
        }
        // A request's count is filled by distinct offers: one offer gives it one IP.
        if (filledBy[requestHash][offerHash]) revert OrderExhausted("request: already filled by this offer");
        bytes6 subnet = _subnetOf(offer.ip);
        if (request.distinctSubnets && subnetTaken[requestHash][subnet]) {
            revert TermsMismatch("request: wants distinct subnets and already has an IP in this one");
        }
        (bool ok, uint256 cost) = Math.tryMul(pricePerSecond, request.duration);
        if (!ok) revert Overflow("price * duration overflows");
        uint256 spent;
        (ok, spent) = Math.tryAdd(ru.spent, cost);
        if (!ok) revert Overflow("request: spent budget overflows");
        if (spent > request.budget) revert TermsMismatch("request: budget would be exceeded");
        Wallet storage w = wallets[request.requester];
        if (w.balance < cost) revert InsufficientFunds("requester's wallet balance is too low");

        // cost <= a wallet's balance, so cost and pricePerSecond (<= cost) fit 96 bits.
        w.balance -= uint128(cost);
        w.reserved += uint128(cost);
        totals.balance -= uint128(cost);
        totals.reserved += uint128(cost);
        dealId = dealIdFor(offerHash, requestHash, ru.fills);
        uint64 start = uint64(Math.max(block.timestamp, request.start));
        Deal storage d = deals[dealId];
        d.provider = offer.provider;
        d.feeBps = offer.feeBps;
        d.start = start;
        d.status = DealStatus.Open;
        d.requester = request.requester;
        d.duration = request.duration;
        d.market = msg.sender;
        d.offerHash = offerHash;
        d.requestHash = requestHash;
        d.pricePerSecond = uint96(pricePerSecond);
        ru.fills += 1;
        ru.spent = uint128(spent);
        ou.open += 1;
        ou.exclusiveOpen = request.exclusive;
        filledBy[requestHash][offerHash] = true;
        if (request.distinctSubnets) subnetTaken[requestHash][subnet] = true;
        emit DealOpened(dealId, offer.provider, request.requester, msg.sender, pricePerSecond, request.duration, cost, start);
    }

    /// claim: by the provider, with the requester's balance proof for a higher cumulative amount.
    function claim(bytes32 dealId, uint256 amount, bytes calldata requesterSignature) external {
        Deal storage d = _deal(dealId);
        if (msg.sender != d.provider) revert NotAParty("only the deal's provider claims");
        if (d.status == DealStatus.Closed) revert DealState("the deal is closed");
        _verifyProof(dealId, d.requester, amount, requesterSignature);
        if (amount <= d.claimed) revert BadBalanceProof("proof is not above the amount already claimed");
        if (amount > _depositOf(d)) revert BadBalanceProof("proof is above the deposit");
        _pay(dealId, d, amount - d.claimed);
    }

    /// closeDeal: by the provider, with a final proof or none (empty signature), then closed.
    function closeDeal(bytes32 dealId, uint256 amount, bytes calldata requesterSignature, uint8 reason) external {
        _checkReason(reason);
        Deal storage d = _deal(dealId);
        if (msg.sender != d.provider) revert NotAParty("only the deal's provider closes it alone");
        if (d.status == DealStatus.Closed) revert DealState("the deal is closed");
        if (requesterSignature.length != 0) {
            _verifyProof(dealId, d.requester, amount, requesterSignature);
            if (amount < d.claimed || amount > _depositOf(d)) {
                revert BadBalanceProof("final proof outside claimed .. deposit");
            }
            _pay(dealId, d, amount - d.claimed);
        }
        _finish(dealId, d, CloseHow.Provider, reason);
    }

    /// cooperativeClose: by either party, with the requester's proof and the provider's consent.
    function cooperativeClose(
        bytes32 dealId,
        uint256 amount,
        bytes calldata requesterSignature,
        bytes calldata providerSignature,
        uint8 reason
    ) external {
        _checkReason(reason);
        Deal storage d = _deal(dealId);
        if (msg.sender != d.provider && msg.sender != d.requester) revert NotAParty("not a party to the deal");
        if (d.status == DealStatus.Closed) revert DealState("the deal is closed");
        _verifyProof(dealId, d.requester, amount, requesterSignature);
        bytes32 consent = _hashTypedDataV4(keccak256(abi.encode(CLOSING_CONSENT_TYPEHASH, dealId, amount)));
        if (_recover(consent, providerSignature) != d.provider) {
            revert BadBalanceProof("closing consent is not signed by the deal's provider");
        }
        if (amount < d.claimed || amount > _depositOf(d)) {
            revert BadBalanceProof("closing amount outside claimed .. deposit");
        }
        _pay(dealId, d, amount - d.claimed);
        _finish(dealId, d, CloseHow.Cooperative, reason);
    }

    /// uncooperativeClose: by the requester of an open deal, admitting `amount`; starts the
    /// challenge period.
    function uncooperativeClose(bytes32 dealId, uint256 amount, uint8 reason) external {
        _checkReason(reason);
        Deal storage d = _deal(dealId);
        if (msg.sender != d.requester) revert NotAParty("only the deal's requester closes it uncooperatively");
        if (d.status != DealStatus.Open) revert DealState("the deal is not open");
        if (amount < d.claimed || amount > _depositOf(d)) {
            revert BadBalanceProof("admitted amount outside claimed .. deposit");
        }
        // Bounded period, but a timestamp near the end of uint64 must not wrap or panic.
        uint256 ends = block.timestamp + challengePeriod;
        if (ends > type(uint64).max) revert Overflow("the challenge period's end overflows");
        d.admitted = uint96(amount); // <= the deposit
        d.status = DealStatus.Closing;
        d.challengeEnds = uint64(ends);
        d.reason = reason;
        emit DealClosing(dealId, amount, uint64(ends), reason);
    }

    /// settle: by anyone once the challenge period is over: pay max(claimed, admitted), refund
    /// the rest. An open deal nobody closed settles once its end (start + duration) plus the
    /// challenge period has come: at what was claimed, the rest refunded, reason expired if
    /// nothing was claimed, else completed (R3: no deposit stays reserved forever).
    function settle(bytes32 dealId) external {
        Deal storage d = _deal(dealId);
        if (d.status == DealStatus.Open) {
            // uint256: a uint64 start, duration and period cannot overflow it.
            uint256 ends = uint256(d.start) + d.duration + challengePeriod;
            if (block.timestamp < ends) {
                revert DealState("the deal is open until its end plus the challenge period");
            }
            _finish(dealId, d, CloseHow.Settled, d.claimed == 0 ? REASON_EXPIRED : REASON_COMPLETED);
            return;
        }
        if (d.status != DealStatus.Closing) revert DealState("the deal is not in its challenge period");
        if (block.timestamp < d.challengeEnds) revert ChallengePeriod("the challenge period is not over");
        if (d.admitted > d.claimed) _pay(dealId, d, d.admitted - d.claimed);
        _finish(dealId, d, CloseHow.Settled, d.reason);
    }

    /// rate: by a party of a closed deal, once, 1..5, for the other party.
    function rate(bytes32 dealId, uint8 score) external {
        Deal storage d = _deal(dealId);
        if (d.status != DealStatus.Closed) revert DealState("only a closed deal can be rated");
        bool byProvider = msg.sender == d.provider;
        if (!byProvider && msg.sender != d.requester) revert NotAParty("only the deal's parties rate it");
        if (score < 1 || score > 5) revert BadRating("score is outside 1..5");
        if (byProvider ? d.ratedByProvider : d.ratedByRequester) {
            revert AlreadyRated("this party already rated the deal");
        }
        address ratee;
        if (byProvider) {
            d.ratedByProvider = true;
            ratee = d.requester;
        } else {
            d.ratedByRequester = true;
            ratee = d.provider;
        }
        Rating storage r = ratings[ratee];
        r.count += 1;
        r.sum += score;
        emit Rated(dealId, msg.sender, ratee, score);
    }

    /// The provider, with the requester's signed UsageReceipt (docs/usage-receipts.md): the root of
    /// the deal's usage log, its first `count` records, if it covers more than the one recorded.
    /// Not anyone: a requester recording a bogus receipt with the largest count first would bar
    /// every genuine one.
    function recordUsage(bytes32 dealId, uint64 count, bytes32 root, bytes calldata requesterSignature) external {
        Deal storage d = _deal(dealId);
        if (msg.sender != d.provider) revert NotAParty("usage: only the deal's provider records it");
        Usage storage u = usages[dealId];
        if (count <= u.count) revert InvalidArgument("usage: no more records than recorded");
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(USAGE_RECEIPT_TYPEHASH, dealId, count, root)));
        if (_recover(digest, requesterSignature) != d.requester) {
            revert BadSignature("usage: the receipt is not signed by the deal's requester");
        }
        u.count = count;
        u.root = root;
        emit UsageRecorded(dealId, count, root);
    }

    // ---- Views ---------------------------------------------------------------------------------

    function usage(bytes32 dealId) external view returns (uint64 count, bytes32 root) {
        Usage storage u = usages[dealId];
        return (u.count, u.root);
    }

    function wallet(address account) external view returns (uint256 balance, uint256 reserved) {
        Wallet storage w = wallets[account];
        return (w.balance, w.reserved);
    }

    /// The deal; status None (and every field zero) if no deal has this id.
    function deal(bytes32 dealId) external view returns (DealView memory v) {
        Deal storage d = deals[dealId];
        v.provider = d.provider;
        v.feeBps = d.feeBps;
        v.start = d.start;
        v.status = d.status;
        v.reason = d.reason;
        v.requester = d.requester;
        v.duration = d.duration;
        v.ratedByProvider = d.ratedByProvider;
        v.ratedByRequester = d.ratedByRequester;
        v.market = d.market;
        v.challengeEnds = d.challengeEnds;
        v.offerHash = d.offerHash;
        v.requestHash = d.requestHash;
        v.pricePerSecond = d.pricePerSecond;
        v.deposit = _depositOf(d);
        v.claimed = d.claimed;
        v.admitted = d.admitted;
    }

    function rating(address account) external view returns (uint64 count, uint64 sum) {
        Rating storage r = ratings[account];
        return (r.count, r.sum);
    }

    function orderUse(bytes32 orderHash) external view returns (OrderUse memory) {
        return orders[orderHash];
    }

    function orderCancelled(address owner, bytes32 orderHash) external view returns (bool) {
        return cancelled[owner][orderHash];
    }

    /// Where every token is (SupplyView): accounts + walletBalances + walletReserved + salePool +
    /// unclaimed = total, and the Centralizer holds exactly the wallets' tokens.
    function supply()
        external
        view
        returns (
            uint256 accounts,
            uint256 walletBalances,
            uint256 walletReserved,
            uint256 salePool,
            uint256 unclaimed,
            uint256 total,
            bool conserved
        )
    {
        uint256 held = token.balanceOf(address(this));
        uint256 inToken = token.balanceOf(address(token));
        total = token.totalSupply();
        salePool = token.pool();
        unclaimed = token.unclaimed();
        walletBalances = totals.balance;
        walletReserved = totals.reserved;
        accounts = total - held - inToken;
        conserved = held == walletBalances + walletReserved && inToken == salePool + unclaimed;
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// keccak256(0x1901 || domainSeparator || structHash): what a wallet signs.
    function typedDataDigest(bytes32 structHash) external view returns (bytes32) {
        return _hashTypedDataV4(structHash);
    }

    /// Whether `code` is an assigned ISO 3166-1 alpha-2 code (src/core/country.cc).
    function isCountryCode(bytes2 code) public pure returns (bool) {
        uint8 a = uint8(code[0]);
        uint8 b = uint8(code[1]);
        if (a < 0x41 || a > 0x5a || b < 0x41 || b > 0x5a) return false;
        uint256 bit = uint256(a - 0x41) * 26 + uint256(b - 0x41);
        uint256 word = bit < 256 ? COUNTRIES_0 : bit < 512 ? COUNTRIES_1 : COUNTRIES_2;
        return (word >> (bit % 256)) & 1 == 1;
    }

    /// The EIP-712 struct hash of an offer (Offer::struct_hash).
    function hashOffer(Offer calldata o) public pure returns (bytes32) {
        bytes memory head = abi.encode(
            OFFER_TYPEHASH,
            o.provider,
            o.ip,
            o.country,
            keccak256(bytes(o.region)),
            o.asn,
            o.ipType,
            o.protocols,
            o.scopes,
            o.bandwidthKbps,
            o.capacity
        );
        bytes memory tail = abi.encode(
            o.availableFrom,
            o.availableUntil,
            o.minDuration,
            o.maxDuration,
            o.pricePerSecond,
            o.market,
            o.feeBps,
            o.minRequesterRating,
            o.expiry,
            o.nonce
        );
        return keccak256(bytes.concat(head, tail));
    }

    /// The EIP-712 struct hash of a request (Request::struct_hash): bytes2[] hashes as the
    /// keccak of its elements, each left-aligned in a 32-byte word.
    function hashRequest(Request calldata r) public pure returns (bytes32) {
        bytes memory words = new bytes(32 * r.countries.length);
        for (uint256 i = 0; i < r.countries.length; ++i) {
            bytes2 c = r.countries[i];
            assembly ("memory-safe") {
                mstore(add(add(words, 32), mul(i, 32)), c)
            }
        }
        bytes memory head = abi.encode(
            REQUEST_TYPEHASH,
            r.requester,
            r.count,
            keccak256(words),
            keccak256(bytes(r.region)),
            r.asn,
            r.ipTypes,
            r.protocols,
            r.scope,
            r.minProviderRating,
            r.minBandwidthKbps
        );
        bytes memory tail = abi.encode(
            r.exclusive,
            r.distinctSubnets,
            r.start,
            r.duration,
            r.maxPricePerSecond,
            r.budget,
            r.allOrNone,
            r.market,
            r.feeBps,
            r.expiry,
            r.nonce
        );
        return keccak256(bytes.concat(head, tail));
    }

    /// The EIP-712 struct hash of BalanceProof(dealId, amount).
    function hashBalanceProof(bytes32 dealId, uint256 amount) public pure returns (bytes32) {
        return keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, dealId, amount));
    }

    /// The EIP-712 struct hash of ClosingConsent(dealId, amount).
    function hashClosingConsent(bytes32 dealId, uint256 amount) public pure returns (bytes32) {
        return keccak256(abi.encode(CLOSING_CONSENT_TYPEHASH, dealId, amount));
    }

    /// keccak256(offerHash || requestHash || uint256(fill)) (deal_id_for).
    function dealIdFor(bytes32 offerHash, bytes32 requestHash, uint256 fill) public pure returns (bytes32) {
        return keccak256(abi.encode(offerHash, requestHash, fill));
    }

    // ---- Internals -----------------------------------------------------------------------------

    function _deal(bytes32 dealId) private view returns (Deal storage d) {
        d = deals[dealId];
        if (d.status == DealStatus.None) revert UnknownDeal("no such deal");
    }

    function _checkReason(uint8 reason) private pure {
        if (reason > MAX_CLOSE_REASON) revert InvalidArgument("close reason must be 0..6");
    }

    /// Recovers the signer of a 65-byte r || s || v signature as crypto::recover does: v is 27/28
    /// or 0/1, s must be low (EIP-2); anything else recovers to no one (address 0).
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) return address(0);
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, v, r, s);
        if (err != ECDSA.RecoverError.NoError) return address(0);
        return signer;
    }

    function _verifyProof(bytes32 dealId, address requester, uint256 amount, bytes calldata sig) private view {
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(BALANCE_PROOF_TYPEHASH, dealId, amount)));
        if (_recover(digest, sig) != requester) {
            revert BadBalanceProof("balance proof is not signed by the deal's requester");
        }
    }

    /// Pays `delta` of the deal's deposit: commission floor(delta * feeBps / 10000) to the
    /// market's wallet, the rest to the provider's, all from the requester's reserve.
    /// (delta <= the deposit, which fits 96 bits.)
    function _pay(bytes32 dealId, Deal storage d, uint256 delta) private {
        if (delta == 0) return;
        uint256 fee = Math.mulDiv(delta, d.feeBps, 10_000);
        wallets[d.requester].reserved -= uint128(delta);
        wallets[d.provider].balance += uint128(delta - fee);
        if (fee != 0) wallets[d.market].balance += uint128(fee);
        totals.reserved -= uint128(delta);
        totals.balance += uint128(delta);
        uint256 claimed = d.claimed + delta;
        d.claimed = uint96(claimed);
        emit Claimed(dealId, claimed, delta, fee);
    }

    function _depositOf(Deal storage d) private view returns (uint256) {
        return uint256(d.pricePerSecond) * d.duration;
    }

    /// Refunds what is left of the deposit to the requester, frees the offer's place, closes.
    function _finish(bytes32 dealId, Deal storage d, CloseHow how, uint8 reason) private {
        uint256 refund = _depositOf(d) - d.claimed;
        Wallet storage w = wallets[d.requester];
        w.reserved -= uint128(refund);
        w.balance += uint128(refund);
        totals.reserved -= uint128(refund);
        totals.balance += uint128(refund);
        OrderUse storage ou = orders[d.offerHash];
        if (ou.open > 0) ou.open -= 1;
        ou.exclusiveOpen = false;
        d.status = DealStatus.Closed;
        d.reason = reason;
        emit DealClosed(dealId, how, reason, d.claimed, refund);
    }

    /// rating_hundredths of src/ledger/rating.h: the Bayesian average of the votes in hundredths,
    /// floor((5 * 300 + 100 * sum) / (5 + count)); 300 with no votes.
    function _ratingOf(address account) private view returns (uint256) {
        Rating storage r = ratings[account];
        return (RATING_PRIOR_WEIGHT * RATING_PRIOR_MEAN + 100 * uint256(r.sum)) / (RATING_PRIOR_WEIGHT + uint256(r.count));
    }

    /// subnet_key of src/ledger/orders.cc: an IPv4-mapped IP's /24 as ff ff a b c 00, an IPv6
    /// IP's /48 as its first six bytes.
    function _subnetOf(bytes16 ip) private pure returns (bytes6) {
        uint128 x = uint128(ip);
        if (x >> 32 == 0xffff) return bytes6(uint48((uint48(0xffff) << 32) | (uint48((x >> 8) & 0xffffff) << 8)));
        return bytes6(ip);
    }

    /// validate(const Offer&) of src/ledger/orders.cc, field by field, same order.
    function _validateOffer(Offer calldata o) private pure {
        if (o.provider == address(0)) revert BadOrder("offer.provider: must not be the zero address");
        if (o.ip == bytes16(0)) revert BadOrder("offer.ip: must not be the unspecified address");
        if (!isCountryCode(o.country)) revert BadOrder("offer.country: not an ISO 3166-1 alpha-2 code");
        if (bytes(o.region).length > 64) revert BadOrder("offer.region: longer than 64 bytes");
        if (o.ipType < 1 || o.ipType > 3) {
            revert BadOrder("offer.ipType: must be 1 (residential), 2 (datacenter) or 3 (mobile)");
        }
        if (o.protocols == 0 || (o.protocols & ~ALL_PROTOCOLS) != 0) {
            revert BadOrder("offer.protocols: must name at least one known protocol");
        }
        if (o.scopes == 0 || (o.scopes & ~ALL_SCOPES) != 0) {
            revert BadOrder("offer.scopes: must allow at least one known scope");
        }
        if (o.capacity == 0) revert BadOrder("offer.capacity: must be at least 1");
        if (o.minDuration < MIN_DURATION || o.minDuration > MAX_DURATION) {
            revert BadOrder("offer.minDuration: must be within 5 s .. 30 days");
        }
        if (o.maxDuration < o.minDuration || o.maxDuration > MAX_DURATION) {
            revert BadOrder("offer.maxDuration: must be within minDuration .. 30 days");
        }
        if (o.availableUntil != 0 && o.availableUntil <= o.availableFrom) {
            revert BadOrder("offer.availableUntil: must be after availableFrom (or 0 for no end)");
        }
        if (o.market == address(0)) revert BadOrder("offer.market: must name the market");
        if (o.feeBps > MAX_FEE_BPS) revert BadOrder("offer.feeBps: must be at most 10000");
        if (o.minRequesterRating > MAX_RATING) revert BadOrder("offer.minRequesterRating: must be at most 500");
        if (o.expiry == 0) revert BadOrder("offer.expiry: must be set");
        (bool ok, ) = Math.tryMul(o.pricePerSecond, MAX_DURATION);
        if (!ok) revert Overflow("offer.pricePerSecond: price * 30 days overflows");
    }

    /// validate(const Request&) of src/ledger/orders.cc, field by field, same order.
    function _validateRequest(Request calldata r) private pure {
        if (r.requester == address(0)) revert BadOrder("request.requester: must not be the zero address");
        if (r.count == 0 || r.count > 100_000) revert BadOrder("request.count: must be within 1 .. 100000");
        if (r.countries.length > 300) revert BadOrder("request.countries: more than 300 entries");
        for (uint256 i = 0; i < r.countries.length; ++i) {
            if (!isCountryCode(r.countries[i])) {
                revert BadOrder(
                    string.concat(
                        "request.countries[",
                        Strings.toString(i),
                        "]: not an ISO 3166-1 alpha-2 code"
                    )
                );
            }
        }
        if (bytes(r.region).length > 64) revert BadOrder("request.region: longer than 64 bytes");
        if ((r.ipTypes & ~uint8(0x0e)) != 0) revert BadOrder("request.ipTypes: unknown IP type bits");
        if (r.protocols == 0 || (r.protocols & ~ALL_PROTOCOLS) != 0) {
            revert BadOrder("request.protocols: must name at least one known protocol");
        }
        if (r.scope == 0 || (r.scope & (r.scope - 1)) != 0 || (r.scope & ~ALL_SCOPES) != 0) {
            revert BadOrder("request.scope: must be exactly one known scope");
        }
        if (r.minProviderRating > MAX_RATING) revert BadOrder("request.minProviderRating: must be at most 500");
        if (r.duration < MIN_DURATION || r.duration > MAX_DURATION) {
            revert BadOrder("request.duration: must be within 5 s .. 30 days");
        }
        if (r.market == address(0)) revert BadOrder("request.market: must name the market");
        if (r.feeBps > MAX_FEE_BPS) revert BadOrder("request.feeBps: must be at most 10000");
        if (r.expiry == 0) revert BadOrder("request.expiry: must be set");
        (bool ok, uint256 perIp) = Math.tryMul(r.maxPricePerSecond, r.duration);
        if (ok) (ok, ) = Math.tryMul(perIp, r.count);
        if (!ok) revert Overflow("request.maxPricePerSecond: price * duration * count overflows");
    }

    /// check_fit of src/ledger/orders.cc, clause by clause, same order, same messages.
    function _checkFit(Offer calldata offer, Request calldata request, uint256 price, uint256 now_) private pure {
        if (offer.market != request.market) revert TermsMismatch("the orders name different markets");
        if (offer.feeBps != request.feeBps) revert TermsMismatch("the orders name different fees");
        if (offer.provider == request.requester) revert TermsMismatch("provider and requester are the same");
        if (price < offer.pricePerSecond) revert TermsMismatch("price is below the offer's price");
        if (price > request.maxPricePerSecond) revert TermsMismatch("price is above the request's maximum");
        if (request.duration < offer.minDuration || request.duration > offer.maxDuration) {
            revert TermsMismatch("duration is outside the offer's bounds");
        }
        if ((request.protocols & ~offer.protocols) != 0) {
            revert TermsMismatch("the offer does not serve every requested protocol");
        }
        if ((request.scope & offer.scopes) == 0) revert TermsMismatch("the offer does not allow the request's scope");
        if (request.countries.length != 0) {
            bool found = false;
            for (uint256 i = 0; i < request.countries.length; ++i) {
                if (request.countries[i] == offer.country) {
                    found = true;
                    break;
                }
            }
            if (!found) revert TermsMismatch("the offer's country is not among the requested ones");
        }
        if (bytes(request.region).length != 0 && keccak256(bytes(request.region)) != keccak256(bytes(offer.region))) {
            revert TermsMismatch("region differs");
        }
        if (request.asn != 0 && request.asn != offer.asn) revert TermsMismatch("ASN differs");
        if (request.ipTypes != 0 && (uint256(request.ipTypes) & (uint256(1) << offer.ipType)) == 0) {
            revert TermsMismatch("the offer's IP type is not among the requested ones");
        }
        if (offer.bandwidthKbps < request.minBandwidthKbps) revert TermsMismatch("bandwidth below the request's minimum");
        uint256 start = Math.max(now_, request.start);
        if (start < offer.availableFrom) revert TermsMismatch("the rental starts before the offer is available");
        if (offer.availableUntil != 0 && start + request.duration > offer.availableUntil) {
            revert TermsMismatch("the rental ends after the offer's availability");
        }
    }
}
