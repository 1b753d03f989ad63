// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import "./LedgerErrors.sol";

/// @title The IPSX token and its crowd sale (R2), as docs/ledger.md specifies them.
/// @notice 1,800,000,000 IPSX (18 decimals) exist from construction on and no function creates
/// or destroys any. The 900,000,000 of the sale pool are held by this contract itself: its own
/// token balance is always `pool + unclaimed`. Tokens move between holders only once the sale is
/// finalized. See docs/contracts.md for how this maps to the embedded ledger.
/// @dev OpenZeppelin's ERC20 keeps the balances, allowances and events; every public entry point
/// does the specification's checks first, in its order, with the ledger's errors, so none of
/// OpenZeppelin's own errors is reachable.
contract IPSXToken is ERC20 {
    uint256 public constant TOTAL_SUPPLY = 1_800_000_000 ether;
    uint256 public constant SALE_TOKENS = 900_000_000 ether;
    uint256 public constant EARLY_ADOPTER_TOKENS = 495_000_000 ether;
    uint256 public constant BOUNTY_TOKENS = 45_000_000 ether;
    uint256 public constant TEAM_TOKENS = 360_000_000 ether;

    /// IPSX base units per native base unit.
    uint256 public immutable rate;
    /// The most native coin the sale takes (`hardCap * rate <= SALE_TOKENS`).
    uint256 public immutable hardCap;
    /// Native coin, at most hardCap; 0: none. With a soft cap the coin paid stays in this
    /// contract until finalizeSale() pays it to the treasury, which needs at least softCap
    /// raised; a sale that ends below it is never finalized and its buyers take a refund().
    uint256 public immutable softCap;
    /// The sale window [saleStart, saleEnd), unix seconds of the block timestamp.
    uint64 public immutable saleStart;
    uint64 public immutable saleEnd;
    /// Receives the native coin of every purchase (at finalize when there is a soft cap).
    address public immutable treasury;
    /// The Centralizer: the one contract that may move a holder's tokens into its wallet (deposit).
    address public immutable centralizer;
    address public immutable earlyAdopters;
    address public immutable bounty;
    address public immutable team;

    uint256 public raised; // native coin received, less what was refunded
    uint256 public refunded; // native coin given back to the buyers of a failed sale
    uint256 public treasuryOwed; // coin the treasury refused at finalize (payTreasury retries)
    /// The gas finalizeSale() lets the treasury's code use to take the coin (an account without
    /// code uses none; a contract wallet's receive needs a few thousand).
    uint256 internal constant TREASURY_CALL_GAS = 100_000;
    uint256 public sold; // IPSX sold
    uint256 public pool; // IPSX still in the sale pool
    uint256 public unclaimed; // IPSX unsold at finalize, not yet claimed
    uint256 public unsoldAtFinalize;
    bool public finalized;
    mapping(address => uint256) public bought;
    mapping(address => bool) public claimedUnsold;

    event Purchase(address indexed buyer, uint256 value, uint256 tokens);
    event SaleFinalized(uint256 sold, uint256 unsold);
    event UnsoldClaimed(address indexed buyer, uint256 amount);
    event Refunded(address indexed buyer, uint256 value, uint256 tokens);

    /// @param centralizer_ the Centralizer's address, known before it is deployed (the CREATE
    /// address of the deployer's next nonce); the Centralizer's constructor checks the link.
    constructor(
        address earlyAdopters_,
        address bounty_,
        address team_,
        uint256 rate_,
        uint256 hardCap_,
        uint256 softCap_,
        uint64 saleStart_,
        uint64 saleEnd_,
        address treasury_,
        address centralizer_
    ) ERC20("IPSX", "IPSX") {
        // GenesisConfig::validate, in its order.
        if (earlyAdopters_ == address(0)) revert InvalidArgument("allocations.early_adopters must be set");
        if (bounty_ == address(0)) revert InvalidArgument("allocations.bounty must be set");
        if (bounty_ == earlyAdopters_) revert InvalidArgument("allocations.early_adopters and allocations.bounty are the same");
        if (team_ == address(0)) revert InvalidArgument("allocations.team must be set");
        if (team_ == earlyAdopters_) revert InvalidArgument("allocations.early_adopters and allocations.team are the same");
        if (team_ == bounty_) revert InvalidArgument("allocations.bounty and allocations.team are the same");
        if (rate_ == 0) revert InvalidArgument("sale.rate must be positive");
        if (hardCap_ == 0) revert InvalidArgument("sale.hard_cap must be positive");
        (bool ok, uint256 capTokens) = Math.tryMul(hardCap_, rate_);
        if (!ok || capTokens > SALE_TOKENS) {
            revert InvalidArgument("sale.hard_cap * sale.rate exceeds the 900,000,000 IPSX sale pool");
        }
        if (softCap_ > hardCap_) revert InvalidArgument("sale.soft_cap is above sale.hard_cap");
        if (saleEnd_ <= saleStart_) revert InvalidArgument("sale.end must be after sale.start");
        if (treasury_ == address(0)) revert InvalidArgument("sale.treasury must be set");
        if (centralizer_ == address(0)) revert InvalidArgument("centralizer must be set");
        // Ethereum only: the allocations must be ordinary holders, not this contract or the
        // Centralizer (whose token balances are accounted for as the pool and the wallets).
        if (
            earlyAdopters_ == centralizer_ || bounty_ == centralizer_ || team_ == centralizer_ ||
            earlyAdopters_ == address(this) || bounty_ == address(this) || team_ == address(this)
        ) revert InvalidArgument("an allocation holder is the token or the Centralizer");

        rate = rate_;
        hardCap = hardCap_;
        softCap = softCap_;
        saleStart = saleStart_;
        saleEnd = saleEnd_;
        treasury = treasury_;
        centralizer = centralizer_;
        earlyAdopters = earlyAdopters_;
        bounty = bounty_;
        team = team_;

        _mint(earlyAdopters_, EARLY_ADOPTER_TOKENS);
        _mint(bounty_, BOUNTY_TOKENS);
        _mint(team_, TEAM_TOKENS);
        _mint(address(this), SALE_TOKENS);
        pool = SALE_TOKENS;
    }

    // ---- ERC20 ------------------------------------------------------------------------------

    /// transfer(to, amount): finalized (TransfersLocked); to != 0 (InvalidArgument); balance >=
    /// amount (InsufficientFunds).
    function transfer(address to, uint256 amount) public override returns (bool) {
        _requireUnlocked();
        _requireRecipient(to);
        uint256 have = balanceOf(msg.sender);
        if (have < amount) revert InsufficientFunds("token balance is too low");
        _update(msg.sender, to, amount);
        return true;
    }

    /// approve(spender, amount): spender != 0 (InvalidArgument). Allowed before finalize.
    function approve(address spender, uint256 amount) public override returns (bool) {
        if (spender == address(0)) revert InvalidArgument("approve of the zero address");
        _approve(msg.sender, spender, amount);
        return true;
    }

    /// transferFrom(owner, to, amount): finalized; to != 0; allowance >= amount and owner's
    /// balance >= amount (InsufficientFunds); an allowance of 2^256-1 is infinite.
    function transferFrom(address owner, address to, uint256 amount) public override returns (bool) {
        _requireUnlocked();
        _requireRecipient(to);
        uint256 allowed = allowance(owner, msg.sender);
        if (allowed < amount) revert InsufficientFunds("allowance is too low");
        if (balanceOf(owner) < amount) revert InsufficientFunds("token balance is too low");
        if (allowed != type(uint256).max && amount != 0) {
            _approve(owner, msg.sender, allowed - amount, false);
        }
        // With owner == 0 the checks above force amount == 0: nothing moves.
        _update(owner, to, amount);
        return true;
    }

    /// The total supply never changes: 1.8e9 IPSX, wherever they are.
    function totalSupply() public pure override returns (uint256) {
        return TOTAL_SUPPLY;
    }

    // ---- Crowd sale ---------------------------------------------------------------------------

    /// Plain native coin sent to the token (a wallet's ordinary transfer, no call data) buys, as
    /// buy() does, under the same checks.
    receive() external payable {
        buy();
    }

    /// buy(): the native value sent buys `value * rate` IPSX from the pool. The sender's native
    /// balance is checked by Ethereum itself before the call runs.
    function buy() public payable {
        uint256 value = msg.value;
        if (finalized) revert SaleNotOpen("the sale is finalized");
        if (block.timestamp < saleStart) revert SaleNotOpen("the sale has not started");
        if (block.timestamp >= saleEnd) revert SaleNotOpen("the sale has ended");
        if (value == 0) revert InvalidArgument("buy of zero");
        (bool ok1, uint256 newRaised) = Math.tryAdd(raised, value);
        if (!ok1) revert Overflow("raised overflows");
        if (newRaised > hardCap) revert HardCapExceeded("the purchase would pass the hard cap");
        (bool ok2, uint256 tokens) = Math.tryMul(value, rate);
        if (!ok2) revert Overflow("value * rate overflows");
        if (tokens > pool) revert HardCapExceeded("the sale pool is exhausted");

        raised = newRaised;
        sold += tokens;
        pool -= tokens;
        bought[msg.sender] += tokens;
        _update(address(this), msg.sender, tokens);
        emit Purchase(msg.sender, value, tokens);

        if (softCap == 0) {
            (bool sent, ) = treasury.call{value: value}("");
            if (!sent) revert NativeTransferFailed("the treasury refused the native coin");
        }
    }

    /// finalizeSale(): once the window has ended or the hard cap is reached; once.
    function finalizeSale() external {
        if (finalized) revert SaleNotFinalizable("the sale is already finalized");
        if (block.timestamp < saleEnd && raised < hardCap) {
            revert SaleNotFinalizable("the sale window is still open and the hard cap is not reached");
        }
        if (raised < softCap) {
            revert SaleNotFinalizable("the sale ended below its soft cap: buyers take their coin back with refund");
        }
        uint256 unsold = pool;
        unsoldAtFinalize = unsold;
        unclaimed += unsold;
        pool = 0;
        finalized = true;
        emit SaleFinalized(sold, unsold);
        // A treasury that refuses the coin must not keep the sale from finalizing (the buyers'
        // tokens would never unlock, and a sale over its soft cap has no refunds): the coin then
        // waits in treasuryOwed for payTreasury(). The call gets a bounded gas allowance and none
        // of its return data is copied, so that a treasury contract cannot make finalize run out
        // of gas (burning what it is given, or answering with a huge revert payload).
        if (softCap != 0 && raised != 0) {
            address to = treasury;
            uint256 value = raised;
            bool sent;
            assembly {
                sent := call(TREASURY_CALL_GAS, to, value, 0, 0, 0, 0)
            }
            if (!sent) treasuryOwed = value;
        }
    }

    /// payTreasury(): anyone may retry paying the treasury the coin it refused at finalize.
    /// Ethereum only (an embedded ledger's account always takes coin).
    function payTreasury() external {
        uint256 owed = treasuryOwed;
        if (owed == 0) revert NothingToClaim("nothing is owed to the treasury");
        treasuryOwed = 0;
        (bool sent, ) = treasury.call{value: owed}("");
        if (!sent) revert NativeTransferFailed("the treasury refused the native coin");
    }

    /// refund(): after a sale that ended below its soft cap, a buyer's coin back (bought / rate,
    /// exact: every purchase bought value * rate) and its tokens back to the pool.
    function refund() external {
        if (softCap == 0) revert SaleNotRefundable("the sale has no soft cap");
        if (finalized) revert SaleNotRefundable("the sale is finalized");
        if (block.timestamp < saleEnd) revert SaleNotRefundable("the sale has not ended");
        if (raised >= softCap) revert SaleNotRefundable("the sale reached its soft cap");
        uint256 tokens = bought[msg.sender];
        if (tokens == 0) revert NothingToClaim("nothing bought in the sale, or already refunded");
        // Transfers are locked until finalize, so the tokens bought are all still the buyer's.
        uint256 value = tokens / rate;
        bought[msg.sender] = 0;
        raised -= value;
        refunded += value;
        sold -= tokens;
        pool += tokens;
        _update(msg.sender, address(this), tokens);
        emit Refunded(msg.sender, value, tokens);
        (bool sent, ) = msg.sender.call{value: value}("");
        if (!sent) revert NativeTransferFailed("the buyer refused the refunded coin");
    }

    /// claimUnsold(): a buyer's pro-rata share of the unsold tokens, floor(unsold * bought / sold).
    function claimUnsold() external {
        if (!finalized) revert SaleNotFinalized("the sale is not finalized");
        uint256 mine = bought[msg.sender];
        if (mine == 0) revert NothingToClaim("never bought in the sale");
        if (claimedUnsold[msg.sender]) revert NothingToClaim("unsold share already claimed");
        uint256 share = Math.mulDiv(unsoldAtFinalize, mine, sold);
        claimedUnsold[msg.sender] = true;
        unclaimed -= share;
        _update(address(this), msg.sender, share);
        emit UnsoldClaimed(msg.sender, share);
    }

    // ---- The Centralizer's deposit ---------------------------------------------------------------

    /// Moves `amount` of `holder`'s tokens to the Centralizer: only the Centralizer calls it,
    /// from its deposit(), on behalf of `holder` = its caller. (On the embedded ledger a deposit
    /// needs no allowance; this keeps it one call here too.)
    function centralizerPull(address holder, uint256 amount) external {
        if (msg.sender != centralizer) revert NotAParty("only the Centralizer moves tokens into wallets");
        _requireUnlocked();
        if (balanceOf(holder) < amount) revert InsufficientFunds("token balance is too low");
        _update(holder, centralizer, amount);
    }

    // ---- Views ------------------------------------------------------------------------------

    /// The sale, as SaleView (times in unix seconds).
    function sale()
        external
        view
        returns (
            uint256 rate_,
            uint256 hardCap_,
            uint256 raised_,
            uint256 sold_,
            uint256 pool_,
            uint256 unclaimed_,
            uint64 start_,
            uint64 end_,
            bool finalized_,
            address treasury_,
            uint256 softCap_,
            uint256 refunded_
        )
    {
        return (rate, hardCap, raised, sold, pool, unclaimed, saleStart, saleEnd, finalized, treasury, softCap, refunded);
    }

    // ---- Internals ----------------------------------------------------------------------------

    function _requireUnlocked() private view {
        if (!finalized) revert TransfersLocked("tokens move only after the sale is finalized");
    }

    function _requireRecipient(address to) private view {
        if (to == address(0)) revert InvalidArgument("transfer to the zero address");
        // Ethereum only: tokens sent here or to the Centralizer by a plain transfer would sit in
        // no place of the invariant (neither the pool nor a wallet). Deposit instead.
        if (to == address(this)) revert InvalidArgument("transfer to the token contract");
        if (to == centralizer) revert InvalidArgument("transfer to the Centralizer: use its deposit()");
    }
}
