// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import "./LedgerErrors.sol";

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

/// The order rules of docs/orders.md that need no storage: an order's validation and the fit of
/// an offer and a request, as src/ledger/orders.cc checks them, same order, same messages. The
/// Centralizer creates this contract in its constructor and calls it; apart, they keep the
/// Centralizer under EIP-170's code size limit. Every rejection is one of the ledger's errors,
/// which the Centralizer's call passes on as they are.
contract OrderRules {
    uint64 internal constant MIN_DURATION = 5;
    uint64 internal constant MAX_DURATION = 30 days;
    uint16 internal constant MAX_FEE_BPS = 10_000;
    uint16 internal constant MAX_RATING = 500;
    uint32 internal constant ALL_PROTOCOLS = 31;
    uint32 internal constant ALL_SCOPES = 31;

    // The 249 assigned ISO 3166-1 alpha-2 codes of src/core/country.cc as a bitmap: bit
    // (a - 'A') * 26 + (b - 'A') for the code "ab", over three words.
    uint256 internal constant COUNTRIES_0 = 0x0340400f7818068d0015fb9fb0095c000e00d48015843f27deddbdefeedf5978;
    uint256 internal constant COUNTRIES_1 = 0x9fbb3ae7fdf1510040000001538f3c400100084b25d7fffcfd4f8141f42b1d00;
    uint256 internal constant COUNTRIES_2 = 0x000000000000000000000001004004080010000000004002004085570410419a;

    /// validate(offer) and validate(request), in that order.
    function validate(Offer calldata offer, Request calldata request) external pure {
        _validateOffer(offer);
        _validateRequest(request);
    }

    /// check_fit(offer, request, price, now).
    function fit(Offer calldata offer, Request calldata request, uint256 price, uint256 now_) external pure {
        _checkFit(offer, request, price, now_);
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
