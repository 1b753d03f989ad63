// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IPSXToken} from "./IPSXToken.sol";
import {Offer, Request, OrderRules} from "./OrderRules.sol";
import "./LedgerErrors.sol";

/// @title The Centralizer (R3): wallets, signed orders, deals as payment channels (R9), the
/// market's commission (R12) and ratings (R4), as docs/ledger.md specifies them.
/// @notice Orders, balance proofs and closing consents are EIP-712 under the domain
/// {name "IPSX", version "1", chainId, verifyingContract = this contract}, with exactly the types
/// of docs/orders.md (src/ledger/orders.cc), so what a wallet signed for the C++ side verifies
/// here. Every rejection is one of the ledger's errors (LedgerErrors.sol).
contract Centralizer is EIP712 {
    // ---- Types ---------------------------------------------------------------------------------

    /// DealState of src/ledger/ledger.h (open = 0, closing = 1, closed = 2). A deal exists when
    /// its commitment is set.
    enum DealStatus {
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

    /// A deal's fixed terms. The contract keeps only their hash, the deal's commitment (one
    /// slot written at the open: fresh storage is most of a deal's gas), and every call about
    /// the deal carries them again with its id, checked against it. DealOpened gives every reader
    /// the terms. A deal is kept under dealKey(requestHash, fill): a request of one IP is filled
    /// when its deal 0 exists, so it needs no slot of its own.
    struct DealTerms {
        bytes32 offerHash;
        bytes32 requestHash;
        uint64 fill; // the request's fill-th deal: its id is dealIdFor(offerHash, requestHash, fill)
        address provider;
        address requester;
        address market;
        uint16 feeBps;
        uint64 start; // unix seconds
        uint64 duration; // seconds
        uint256 pricePerSecond; // the deposit is pricePerSecond * duration
    }

    /// A deal as stored: its commitment, and what moves in one slot, all zero (open, nothing
    /// claimed) until the first payment or close. Amounts fit 96 bits: each is at most the
    /// deposit, at most a wallet's balance, at most the 1.8e27 of the supply (< 2^96 = 7.9e28).
    struct Deal {
        bytes32 commitment; // keccak256(abi.encode(DealTerms)); zero: no deal
        uint96 claimed; // paid so far, commission included
        uint96 admitted; // the requester's admission in an uncooperative close
        uint40 challengeEnds; // unix seconds; set by uncooperativeClose
        DealStatus status;
        uint8 reason; // CloseReason 0..6
        uint8 rated; // bit 0: the provider rated; bit 1: the requester rated
    }

    /// One slot: a wallet's tokens fit 128 bits (the supply is 1.8e27 < 2^128).
    struct Wallet {
        uint128 balance;
        uint128 reserved;
    }

    /// One slot. `spent` adds up the deposits of a request's deals: at most count (uint32) of
    /// them, each at most the supply, 4.3e9 * 1.8e27 < 2^128.
    struct OrderUse {
        uint64 fills; // deals opened (requests); deals ever opened (offers: keeps the slot warm)
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

    uint256 internal constant RATING_PRIOR_WEIGHT = 5; // kRatingPriorWeight (src/ledger/rating.h)
    uint256 internal constant RATING_PRIOR_MEAN = 300; // kRatingPriorMean
    uint8 internal constant MAX_CLOSE_REASON = 6;
    uint8 internal constant REASON_COMPLETED = 1; // CloseReason::completed
    uint8 internal constant REASON_EXPIRED = 6; // CloseReason::expired
    uint256 internal constant MAX_BATCH = 32; // ledger::kMaxBatchOps
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

    // ---- State ---------------------------------------------------------------------------------

    IPSXToken public immutable token;
    /// The order rules that need no storage (OrderRules.sol), created with this contract.
    OrderRules public immutable rules;
    /// How long a provider has to answer an uncooperative close, in seconds.
    uint64 public immutable challengePeriod;

    mapping(address => Wallet) internal wallets;
    Totals internal totals;
    mapping(bytes32 => Deal) internal deals; // by dealKey(requestHash, fill)
    mapping(bytes32 => OrderUse) internal orders;
    mapping(address => mapping(bytes32 => bool)) internal cancelled;
    mapping(address => Rating) internal ratings;
    /// request => offer => a deal of the request was opened on the offer (never cleared; kept
    /// for requests of more than one IP only: one of one IP is filled once).
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
    /// Every term of the deal (DealTerms), which later calls about it carry.
    event DealOpened(
        bytes32 indexed dealId,
        address indexed provider,
        address indexed requester,
        address market,
        uint256 price,
        uint64 duration,
        uint256 deposit,
        uint64 start,
        bytes32 offerHash,
        bytes32 requestHash,
        uint64 fill,
        uint16 feeBps
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
        rules = new OrderRules();
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
        rules.validate(offer, request);
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
        rules.fit(offer, request, pricePerSecond, block.timestamp);
        // The minimum ratings, against the ledger's own ratings, as the market's filter.
        if (request.minProviderRating > 0 && _ratingOf(offer.provider) < request.minProviderRating) {
            revert TermsMismatch("request.minProviderRating: the provider's rating is below this minimum");
        }
        if (offer.minRequesterRating > 0 && _ratingOf(request.requester) < offer.minRequesterRating) {
            revert TermsMismatch("offer.minRequesterRating: the requester's rating is below this minimum");
        }

        // A request of one IP keeps no use of its own: it is filled when its deal 0 exists.
        bool single = request.count == 1;
        OrderUse storage ru = orders[requestHash];
        OrderUse storage ou = orders[offerHash];
        if (single ? deals[dealKey(requestHash, 0)].commitment != 0 : ru.fills >= request.count) {
            revert OrderExhausted("request: every IP is already filled");
        }
        if (ou.open >= offer.capacity) revert OrderExhausted("offer: at capacity");
        if (ou.exclusiveOpen) revert OrderExhausted("offer: leased exclusively");
        if (request.exclusive && ou.open > 0) {
            revert OrderExhausted("offer: shared, the request wants it exclusively");
        }
        // A request's count is filled by distinct offers: one offer gives it one IP.
        if (request.count > 1 && filledBy[requestHash][offerHash]) {
            revert OrderExhausted("request: already filled by this offer");
        }
        bytes6 subnet = _subnetOf(offer.ip);
        if (request.distinctSubnets && subnetTaken[requestHash][subnet]) {
            revert TermsMismatch("request: wants distinct subnets and already has an IP in this one");
        }
        (bool ok, uint256 cost) = Math.tryMul(pricePerSecond, request.duration);
        if (!ok) revert Overflow("price * duration overflows");
        uint256 spent = cost;
        if (!single) {
            (ok, spent) = Math.tryAdd(ru.spent, cost);
            if (!ok) revert Overflow("request: spent budget overflows");
        }
        if (spent > request.budget) revert TermsMismatch("request: budget would be exceeded");
        Wallet storage w = wallets[request.requester];
        if (w.balance < cost) revert InsufficientFunds("requester's wallet balance is too low");

        // cost <= a wallet's balance, so cost and pricePerSecond (<= cost) fit 96 bits.
        w.balance -= uint128(cost);
        w.reserved += uint128(cost);
        totals.balance -= uint128(cost);
        totals.reserved += uint128(cost);
        DealTerms memory t = DealTerms({
            offerHash: offerHash,
            requestHash: requestHash,
            fill: single ? 0 : ru.fills,
            provider: offer.provider,
            requester: request.requester,
            market: msg.sender,
            feeBps: offer.feeBps,
            start: uint64(Math.max(block.timestamp, request.start)),
            duration: request.duration,
            pricePerSecond: pricePerSecond
        });
        dealId = dealIdFor(offerHash, requestHash, t.fill);
        deals[dealKey(requestHash, t.fill)].commitment = keccak256(abi.encode(t));
        if (!single) {
            ru.fills += 1;
            ru.spent = uint128(spent);
        }
        ou.fills += 1;
        ou.open += 1;
        ou.exclusiveOpen = request.exclusive;
        if (request.count > 1) filledBy[requestHash][offerHash] = true;
        if (request.distinctSubnets && !single) subnetTaken[requestHash][subnet] = true;
        emit DealOpened(
            dealId, t.provider, t.requester, msg.sender, pricePerSecond, t.duration, cost, t.start, offerHash,
            requestHash, t.fill, t.feeBps
        );
    }

    /// claim: by the provider, with the requester's balance proof for a higher cumulative amount.
    function claim(bytes32 dealId, DealTerms calldata t, uint256 amount, bytes calldata requesterSignature) external {
        Deal storage d = _deal(dealId, t);
        if (msg.sender != t.provider) revert NotAParty("only the deal's provider claims");
        if (d.status == DealStatus.Closed) revert DealState("the deal is closed");
        _verifyProof(dealId, t.requester, amount, requesterSignature);
        if (amount <= d.claimed) revert BadBalanceProof("proof is not above the amount already claimed");
        if (amount > _depositOf(t)) revert BadBalanceProof("proof is above the deposit");
        _pay(dealId, t, d, amount - d.claimed);
    }

    /// closeDeal: by the provider, with a final proof or none (empty signature), then closed.
    function closeDeal(bytes32 dealId, DealTerms calldata t, uint256 amount, bytes calldata requesterSignature, uint8 reason)
        external
    {
        _checkReason(reason);
        Deal storage d = _deal(dealId, t);
        if (msg.sender != t.provider) revert NotAParty("only the deal's provider closes it alone");
        if (d.status == DealStatus.Closed) revert DealState("the deal is closed");
        if (requesterSignature.length != 0) {
            _verifyProof(dealId, t.requester, amount, requesterSignature);
            if (amount < d.claimed || amount > _depositOf(t)) {
                revert BadBalanceProof("final proof outside claimed .. deposit");
            }
            _pay(dealId, t, d, amount - d.claimed);
        }
        _finish(dealId, t, d, CloseHow.Provider, reason);
    }

    /// cooperativeClose: by either party, with the requester's proof and the provider's consent.
    function cooperativeClose(
        bytes32 dealId,
        DealTerms calldata t,
        uint256 amount,
        bytes calldata requesterSignature,
        bytes calldata providerSignature,
        uint8 reason
    ) external {
        _checkReason(reason);
        Deal storage d = _deal(dealId, t);
        if (msg.sender != t.provider && msg.sender != t.requester) revert NotAParty("not a party to the deal");
        if (d.status == DealStatus.Closed) revert DealState("the deal is closed");
        _verifyProof(dealId, t.requester, amount, requesterSignature);
        bytes32 consent = _hashTypedDataV4(keccak256(abi.encode(CLOSING_CONSENT_TYPEHASH, dealId, amount)));
        if (_recover(consent, providerSignature) != t.provider) {
            revert BadBalanceProof("closing consent is not signed by the deal's provider");
        }
        if (amount < d.claimed || amount > _depositOf(t)) {
            revert BadBalanceProof("closing amount outside claimed .. deposit");
        }
        _pay(dealId, t, d, amount - d.claimed);
        _finish(dealId, t, d, CloseHow.Cooperative, reason);
    }

    /// uncooperativeClose: by the requester of an open deal, admitting `amount`; starts the
    /// challenge period.
    function uncooperativeClose(bytes32 dealId, DealTerms calldata t, uint256 amount, uint8 reason) external {
        _checkReason(reason);
        Deal storage d = _deal(dealId, t);
        if (msg.sender != t.requester) revert NotAParty("only the deal's requester closes it uncooperatively");
        if (d.status != DealStatus.Open) revert DealState("the deal is not open");
        if (amount < d.claimed || amount > _depositOf(t)) {
            revert BadBalanceProof("admitted amount outside claimed .. deposit");
        }
        // Bounded period; a timestamp near the end of the 40-bit field must not wrap or panic.
        uint256 ends = block.timestamp + challengePeriod;
        if (ends > type(uint40).max) revert Overflow("the challenge period's end overflows");
        d.admitted = uint96(amount); // <= the deposit
        d.status = DealStatus.Closing;
        d.challengeEnds = uint40(ends);
        d.reason = reason;
        emit DealClosing(dealId, amount, uint64(ends), reason);
    }

    /// settle: by anyone once the challenge period is over: pay max(claimed, admitted), refund
    /// the rest. An open deal nobody closed settles once its end (start + duration) plus the
    /// challenge period has come: at what was claimed, the rest refunded, reason expired if
    /// nothing was claimed, else completed (R3: no deposit stays reserved forever).
    function settle(bytes32 dealId, DealTerms calldata t) external {
        Deal storage d = _deal(dealId, t);
        if (d.status == DealStatus.Open) {
            // uint256: a uint64 start, duration and period cannot overflow it.
            uint256 ends = uint256(t.start) + t.duration + challengePeriod;
            if (block.timestamp < ends) {
                revert DealState("the deal is open until its end plus the challenge period");
            }
            _finish(dealId, t, d, CloseHow.Settled, d.claimed == 0 ? REASON_EXPIRED : REASON_COMPLETED);
            return;
        }
        if (d.status != DealStatus.Closing) revert DealState("the deal is not in its challenge period");
        if (block.timestamp < d.challengeEnds) revert ChallengePeriod("the challenge period is not over");
        if (d.admitted > d.claimed) _pay(dealId, t, d, d.admitted - d.claimed);
        _finish(dealId, t, d, CloseHow.Settled, d.reason);
    }

    /// rate: by a party of a closed deal, once, 1..5, for the other party.
    function rate(bytes32 dealId, DealTerms calldata t, uint8 score) external {
        Deal storage d = _deal(dealId, t);
        if (d.status != DealStatus.Closed) revert DealState("only a closed deal can be rated");
        bool byProvider = msg.sender == t.provider;
        if (!byProvider && msg.sender != t.requester) revert NotAParty("only the deal's parties rate it");
        if (score < 1 || score > 5) revert BadRating("score is outside 1..5");
        uint8 bit = byProvider ? 1 : 2;
        if (d.rated & bit != 0) revert AlreadyRated("this party already rated the deal");
        d.rated |= bit;
        address ratee = byProvider ? t.requester : t.provider;
        Rating storage r = ratings[ratee];
        r.count += 1;
        r.sum += score;
        emit Rated(dealId, msg.sender, ratee, score);
    }

    /// The provider, with the requester's signed UsageReceipt (docs/usage-receipts.md): the root of
    /// the deal's usage log, its first `count` records, if it covers more than the one recorded.
    /// Not anyone: a requester recording a bogus receipt with the largest count first would bar
    /// every genuine one.
    function recordUsage(bytes32 dealId, DealTerms calldata t, uint64 count, bytes32 root, bytes calldata requesterSignature)
        external
    {
        _deal(dealId, t);
        if (msg.sender != t.provider) revert NotAParty("usage: only the deal's provider records it");
        Usage storage u = usages[dealId];
        if (count <= u.count) revert InvalidArgument("usage: no more records than recorded");
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(USAGE_RECEIPT_TYPEHASH, dealId, count, root)));
        if (_recover(digest, requesterSignature) != t.requester) {
            revert BadSignature("usage: the receipt is not signed by the deal's requester");
        }
        u.count = count;
        u.root = root;
        emit UsageRecorded(dealId, count, root);
    }

    // ---- Batches -------------------------------------------------------------------------------

    /// batch(calls): several of this contract's operations from one sender in one transaction
    /// (ledger::Batch): each call is made as if sent alone (a delegatecall to this contract keeps
    /// the sender), in order, all or none: the first that reverts reverts the batch with its
    /// error. 1..MAX_BATCH calls, none a batch. Not payable, so no call can see ether sent.
    function batch(bytes[] calldata calls) external {
        if (calls.length == 0 || calls.length > MAX_BATCH) revert InvalidArgument("a batch holds 1 to 32 operations");
        for (uint256 i = 0; i < calls.length; ++i) {
            bytes calldata c = calls[i];
            if (c.length < 4 || !_batchable(bytes4(c[0:4]))) {
                revert InvalidArgument("a batch holds deposit, withdraw, cancelOrder and deal operations only");
            }
            (bool ok, bytes memory ret) = address(this).delegatecall(c);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
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

    /// What the contract keeps of a request's fill-th deal: its commitment (zero if there is no
    /// such deal; the terms are in its DealOpened event, found by the deal's id) and what moves.
    function deal(bytes32 requestHash, uint256 fill)
        external
        view
        returns (
            bytes32 commitment,
            uint256 claimed,
            uint256 admitted,
            uint64 challengeEnds,
            uint8 status,
            uint8 reason,
            bool ratedByProvider,
            bool ratedByRequester
        )
    {
        Deal storage d = deals[dealKey(requestHash, fill)];
        return (
            d.commitment, d.claimed, d.admitted, d.challengeEnds, uint8(d.status), d.reason, d.rated & 1 != 0,
            d.rated & 2 != 0
        );
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

    /// Where a request's fill-th deal is kept: keccak256(requestHash || uint256(fill)).
    function dealKey(bytes32 requestHash, uint256 fill) public pure returns (bytes32) {
        return keccak256(abi.encode(requestHash, fill));
    }

    // ---- Internals -----------------------------------------------------------------------------

    /// The deal; the terms given must be its id's and hash to its commitment.
    function _deal(bytes32 dealId, DealTerms calldata t) private view returns (Deal storage d) {
        d = deals[dealKey(t.requestHash, t.fill)];
        if (d.commitment == 0) revert UnknownDeal("no such deal");
        if (d.commitment != keccak256(abi.encode(t)) || dealIdFor(t.offerHash, t.requestHash, t.fill) != dealId) {
            revert UnknownDeal("the terms are not the deal's");
        }
    }

    /// The operations a batch may hold (ledger::batchable).
    function _batchable(bytes4 s) private pure returns (bool) {
        return s == this.openDeal.selector || s == this.claim.selector || s == this.closeDeal.selector
            || s == this.cooperativeClose.selector || s == this.uncooperativeClose.selector
            || s == this.settle.selector || s == this.rate.selector || s == this.recordUsage.selector
            || s == this.deposit.selector || s == this.withdraw.selector || s == this.cancelOrder.selector;
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
    function _pay(bytes32 dealId, DealTerms calldata t, Deal storage d, uint256 delta) private {
        if (delta == 0) return;
        uint256 fee = Math.mulDiv(delta, t.feeBps, 10_000);
        wallets[t.requester].reserved -= uint128(delta);
        wallets[t.provider].balance += uint128(delta - fee);
        if (fee != 0) wallets[t.market].balance += uint128(fee);
        totals.reserved -= uint128(delta);
        totals.balance += uint128(delta);
        uint256 claimed = d.claimed + delta;
        d.claimed = uint96(claimed);
        emit Claimed(dealId, claimed, delta, fee);
    }

    function _depositOf(DealTerms calldata t) private pure returns (uint256) {
        return t.pricePerSecond * t.duration;
    }

    /// Refunds what is left of the deposit to the requester, frees the offer's place, closes.
    function _finish(bytes32 dealId, DealTerms calldata t, Deal storage d, CloseHow how, uint8 reason) private {
        uint256 refund = _depositOf(t) - d.claimed;
        Wallet storage w = wallets[t.requester];
        w.reserved -= uint128(refund);
        w.balance += uint128(refund);
        totals.reserved -= uint128(refund);
        totals.balance += uint128(refund);
        OrderUse storage ou = orders[t.offerHash];
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
}
