// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

// The ledger's error codes (src/ledger/ledger_error.h, LedgerErrc) as custom errors, one per
// code, same order, same meaning. Every error has the same shape, `Name(string reason)`: the
// selector gives the LedgerErrc code (contracts/build.js writes the table to
// ledger-errors.json), the string the message, as the embedded ledger's errors carry one.
// The codes in comments are the C++ enum values.
//
// Three codes never come from the contracts: wrong_chain, bad_nonce and bad_signature of a
// transaction are Ethereum's own checks (EIP-155 chain id, account nonce, transaction signature)
// and are answered by the node before any contract code runs; storage and shutting_down are the
// C++ node's. They are declared anyway so the table is complete.

error BadSignature(string reason); // 1
error WrongChain(string reason); // 2
error BadNonce(string reason); // 3
error InsufficientFunds(string reason); // 4
error TransfersLocked(string reason); // 5
error SaleNotOpen(string reason); // 6
error HardCapExceeded(string reason); // 7
error SaleNotFinalizable(string reason); // 8
error SaleNotFinalized(string reason); // 9
error NothingToClaim(string reason); // 10
error BadOrder(string reason); // 11
error TermsMismatch(string reason); // 12
error OrderExhausted(string reason); // 13
error UnknownDeal(string reason); // 14
error NotAParty(string reason); // 15
error DealState(string reason); // 16
error BadBalanceProof(string reason); // 17
error ChallengePeriod(string reason); // 18
error AlreadyRated(string reason); // 19
error BadRating(string reason); // 20
error Overflow(string reason); // 21
error InvalidArgument(string reason); // 22
error Storage(string reason); // 23
error ShuttingDown(string reason); // 24
error SaleNotRefundable(string reason); // 25

// Not a ledger code: the treasury refused the native coin of a purchase (a treasury that is a
// contract without a payable receive function). The embedded ledger has no such case.
error NativeTransferFailed(string reason);
