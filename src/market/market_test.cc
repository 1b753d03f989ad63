// The market with a real embedded ledger: signed orders in, deals opened on the ledger, status
// events driving each deal, places returning to the book when deals close.
#include "market/market.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <sqlite3.h>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "ledger/test_util.h"
#include "ledger/tx_codec.h"
#include "market/order_entry.h"
#include "market/snapshot.h"

namespace ipsx::market {
namespace {

using ledger::testing::sign_tx;
using ledger::testing::TempDir;

crypto::PrivateKey key(const std::string& name) {
  return crypto::PrivateKey::from_bytes(keccak256(name).view()).value();
}

class MarketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_ = ledger::testing::named_genesis(clock_.now(), 1337);
    g_.challenge_period = ledger::kMinChallengePeriod;
    ledger::EmbeddedOptions o;
    o.data_dir = dir_.path();
    o.verify_threads = 1;
    ledger_ = ledger::EmbeddedLedger::open(o, &g_, clock_).value();
    clock_.advance(Millis(2000));
    exec(key("team"), ledger::FinalizeSale{});
    // The requester has 1,000 IPSX in its Centralizer wallet.
    exec(key("early"), ledger::Transfer{requester_.address(), Amount::from_tokens(1000).value()});
    exec(requester_, ledger::Deposit{Amount::from_tokens(1000).value()});
    market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, MarketConfig{100, {}});
  }

  void exec(const crypto::PrivateKey& k, ledger::Op op) {
    auto tx = ledger_->prepare(k.address(), std::move(op)).value();
    ASSERT_TRUE(ledger_->submit(sign_tx(k, tx)));
  }
  uint64_t now_s() const { return static_cast<uint64_t>(to_unix_seconds(clock_.now())); }
  Hash sep() const { return ledger_->domain().separator(); }
  crypto::Signature sign_order(const crypto::PrivateKey& k, const Hash& struct_hash) {
    return crypto::sign(k, crypto::eip712::digest(sep(), struct_hash)).value();
  }

  Offer offer(uint64_t price, uint8_t ip_last = 2, uint64_t nonce = 1) {
    Offer o;
    o.provider = provider_.address();
    o.ip = parse_ip("127.0.0." + std::to_string(ip_last)).value();
    o.country = parse_country("DE").value();
    o.ip_type = IpType::residential;
    o.protocols = protocol::http;
    o.scopes = scope::crawling;
    o.capacity = 1;
    o.min_duration = 5;
    o.max_duration = 3600;
    o.price_per_second = U256(price);
    o.market = market_->address();
    o.fee_bps = 100;
    o.expiry = now_s() + 3600;
    o.nonce = nonce;
    return o;
  }
  Request request(uint64_t max_price, uint32_t count = 1, uint64_t nonce = 1) {
    Request r;
    r.requester = requester_.address();
    r.count = count;
    r.countries = {parse_country("DE").value()};
    r.protocols = protocol::http;
    r.scope = scope::crawling;
    r.duration = 60;
    r.max_price_per_second = U256(max_price);
    r.budget = U256(max_price * 60 * count);
    r.market = market_->address();
    r.fee_bps = 100;
    r.expiry = now_s() + 3600;
    r.nonce = nonce;
    return r;
  }
  Result<PlaceResult> place(const Offer& o) {
    return market_->place_offer(o, sign_order(provider_, o.struct_hash()));
  }
  Result<PlaceResult> place(const Request& r, const crypto::PrivateKey* k = nullptr) {
    return market_->place_request(r, sign_order(k ? *k : requester_, r.struct_hash()));
  }
  SignedStatusEvent event(const Hash& deal, Party party, PartyState state, uint64_t seq) {
    StatusEvent e{deal, party, state, clock_.now(), seq};
    return sign_event(party == Party::provider ? provider_ : requester_, e, sep()).value();
  }

  TempDir dir_;
  ManualClock clock_{from_unix_ms(1'767'225'600'000)};
  ledger::GenesisConfig g_;
  std::unique_ptr<ledger::EmbeddedLedger> ledger_;
  std::unique_ptr<Market> market_;
  crypto::PrivateKey provider_ = key("provider");
  crypto::PrivateKey requester_ = key("requester");
};

TEST_F(MarketTest, AMatchOpensADealOnTheLedgerAtTheRestingPrice) {
  auto o = place(offer(1'000'000));
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_TRUE(o->deals.empty());
  auto r = place(request(2'000'000));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->deals.size(), 1u);
  auto d = ledger_->deal(r->deals[0]).value();
  EXPECT_EQ(d.provider, provider_.address());
  EXPECT_EQ(d.requester, requester_.address());
  EXPECT_EQ(d.market, market_->address());
  EXPECT_EQ(d.price_per_second, U256(1'000'000));
  EXPECT_EQ(d.deposit.base(), U256(60'000'000));
  EXPECT_EQ(ledger_->wallet(requester_.address())->reserved.base(), U256(60'000'000));
  EXPECT_EQ(market_->deal_status(r->deals[0])->phase, DealPhase::pending);
  auto prints = market_->recent_deals(10);
  ASSERT_EQ(prints.size(), 1u);
  EXPECT_EQ(prints[0].price_per_second, U256(1'000'000));
  EXPECT_EQ(market_->open_deals(), 1u);
  EXPECT_FALSE(market_->book().contains(o->id));
}

// The market's record of a deal takes its times from the ledger's receipt: the deal opens at
// its block's time and starts then, or at the request's start when that is later.
TEST_F(MarketTest, ADealsRecordHasTheLedgersStartAndOpeningTime) {
  ASSERT_TRUE(place(offer(1'000'000)));
  ASSERT_TRUE(place(offer(1'000'000, 2, 2)));
  auto now_deal = place(request(2'000'000));
  ASSERT_TRUE(now_deal) << now_deal.error().message();
  Request later = request(2'000'000, 1, 2);
  later.start = now_s() + 600;
  auto later_deal = place(later);
  ASSERT_TRUE(later_deal) << later_deal.error().message();
  ASSERT_EQ(now_deal->deals.size(), 1u);
  ASSERT_EQ(later_deal->deals.size(), 1u);
  for (const Hash& id : {now_deal->deals[0], later_deal->deals[0]}) {
    auto on_ledger = ledger_->deal(id).value();
    auto block = ledger_->block(ledger_->height().value()).value();
    const DealTimes& times = market_->deal(id)->progress.times;
    EXPECT_EQ(to_unix_seconds(times.start), static_cast<int64_t>(on_ledger.start));
    EXPECT_EQ(times.duration, Millis(60'000));
    EXPECT_LE(times.opened, times.start);
    EXPECT_EQ(to_unix_seconds(times.opened), block.timestamp_ms / 1000);
  }
  EXPECT_EQ(to_unix_seconds(market_->deal(later_deal->deals[0])->progress.times.start),
            static_cast<int64_t>(later.start));
}

TEST_F(MarketTest, BadOrdersAreRejectedWithTheirReasonAndChangeNothing) {
  Offer other = offer(10);
  other.market = key("other market").address();
  EXPECT_EQ(place(other).error().code(), MarketErrc::bad_order);
  Offer fee = offer(10);
  fee.fee_bps = 5;
  EXPECT_NE(place(fee).error().message().find("offer.feeBps"), std::string::npos);
  Offer bad_field = offer(10);
  bad_field.max_duration = 2;
  EXPECT_NE(place(bad_field).error().message().find("offer.maxDuration"), std::string::npos);
  Offer o = offer(10);
  auto forged = market_->place_offer(o, sign_order(key("mallory"), o.struct_hash()));
  EXPECT_EQ(forged.error().code(), MarketErrc::bad_signature);
  ASSERT_TRUE(place(o));
  EXPECT_EQ(place(o).error().code(), MarketErrc::duplicate_order);
  Offer old = offer(10, 3, 2);
  old.expiry = now_s() - 1;
  EXPECT_EQ(place(old).error().code(), MarketErrc::bad_order);
  EXPECT_EQ(market_->book().offers(), 1u);
}

TEST_F(MarketTest, ARequesterWhoCannotPayLosesTheRequestAndTheOfferStays) {
  auto o = place(offer(1'000'000'000'000'000ull));  // 0.001 IPSX/s: 60 s cost 0.06 IPSX
  ASSERT_TRUE(o);
  crypto::PrivateKey poor = key("poor");
  Request r = request(2'000'000'000'000'000ull);
  r.requester = poor.address();
  auto placed = place(r, &poor);
  ASSERT_TRUE(placed) << placed.error().message();
  EXPECT_TRUE(placed->deals.empty());
  ASSERT_EQ(placed->refused.size(), 1u);
  EXPECT_EQ(placed->refused[0].second.code(), ledger::LedgerErrc::insufficient_funds);
  EXPECT_FALSE(market_->book().contains(placed->id));
  EXPECT_TRUE(market_->book().contains(o->id));
}

// Regression: "offer-at-fault ledger refusal consumes one of request's count". An offer the
// ledger refused (here: cancelled there) was dropped, but the request kept the fill as if made:
// a request of one lost everything, a request of two got one IP. The request keeps its full count
// and budget and takes the next offers.
TEST_F(MarketTest, AnOfferTheLedgerRefusesDoesNotConsumeTheRequestsCount) {
  Offer cancelled = offer(1'000'000, 2, 1);
  auto bad = place(cancelled);
  ASSERT_TRUE(bad);
  exec(provider_, ledger::CancelOrder{cancelled.struct_hash()});  // on the ledger only
  auto o2 = place(offer(1'500'000, 3, 2));
  auto o3 = place(offer(1'800'000, 4, 3));
  auto r = place(request(2'000'000, 2, 1));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->refused.size(), 1u);
  EXPECT_EQ(r->refused[0].first.offer, bad->id);
  EXPECT_EQ(r->deals.size(), 2u) << "the request takes o2 and o3";
  EXPECT_FALSE(market_->book().is_live(bad->id)) << "the refused offer left the book";
  EXPECT_FALSE(market_->book().contains(r->id)) << "filled";
  for (const Hash& id : r->deals) {
    const DealRecord* d = market_->deal(id);
    ASSERT_NE(d, nullptr);
    EXPECT_TRUE(d->offer == o2->id || d->offer == o3->id);
  }
  // A request of one whose only match is refused waits, whole, for the next offer.
  Offer cancelled2 = offer(1'000'000, 5, 4);
  auto bad2 = place(cancelled2);
  exec(provider_, ledger::CancelOrder{cancelled2.struct_hash()});
  auto r2 = place(request(2'000'000, 1, 2));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->refused.size(), 1u);
  EXPECT_TRUE(r2->deals.empty());
  EXPECT_TRUE(market_->book().contains(r2->id)) << "the request rests with its count";
  auto o6 = place(offer(1'200'000, 6, 5));
  ASSERT_EQ(o6->deals.size(), 1u);
  EXPECT_EQ(market_->deal(o6->deals[0])->request, r2->id);
}

TEST_F(MarketTest, StatusEventsDriveTheDealAndAClosedDealFreesItsPlace) {
  auto o = place(offer(1'000'000));
  auto first = place(request(2'000'000, 1, 1));
  ASSERT_EQ(first->deals.size(), 1u);
  Hash deal = first->deals[0];
  auto waiting = place(request(2'000'000, 1, 2));  // the offer's one place is taken: rests
  ASSERT_TRUE(waiting);
  EXPECT_TRUE(waiting->deals.empty());
  clock_.advance(Millis(1000));
  EXPECT_EQ(market_->status_event(event(deal, Party::provider, PartyState::ready, 1))->phase,
            DealPhase::ready);
  EXPECT_EQ(market_->status_event(event(deal, Party::requester, PartyState::connected, 1))->phase,
            DealPhase::active);
  auto wrong = market_->status_event(event(deal, Party::requester, PartyState::ready, 2));
  EXPECT_EQ(wrong.error().code(), MarketErrc::wrong_party);
  clock_.advance(Millis(1000));
  auto closed = market_->status_event(event(deal, Party::requester, PartyState::closed, 2));
  ASSERT_TRUE(closed) << closed.error().message();
  EXPECT_EQ(closed->phase, DealPhase::closed);
  EXPECT_EQ(closed->reason, ledger::CloseReason::requester_closed);
  ASSERT_TRUE(market_->next_deadline());
  clock_.set(*market_->next_deadline());
  EXPECT_TRUE(market_->deal_status(deal)->final);
  EXPECT_TRUE(market_->tick().empty()) << "still open on the ledger: the place stays taken";
  // The provider closes it on the ledger with the requester's last balance proof.
  Amount paid = Amount::from_base(U256(2'000'000));
  auto proof = crypto::sign(
      requester_, crypto::eip712::digest(sep(), BalanceProof{deal, paid.base()}.struct_hash()));
  exec(provider_, ledger::CloseDeal{deal, paid, *proof, ledger::CloseReason::requester_closed});
  auto opened = market_->tick();
  ASSERT_EQ(opened.size(), 1u) << "the freed place goes to the waiting request";
  Profile p = market_->profiles().get(provider_.address());
  EXPECT_EQ(p.provided, 1u);
  EXPECT_EQ(p.provided_active, 1u);
  EXPECT_EQ(p.closed_by_reason[static_cast<size_t>(ledger::CloseReason::requester_closed)], 1u);
  // Each party rates the other on the ledger; the profile's rating follows, Bayesian-averaged.
  exec(requester_, ledger::Rate{deal, 5});
  EXPECT_EQ(market_->profiles().get(provider_.address()).rating, 333);
  EXPECT_EQ(market_->profiles().rating(requester_.address()), 300);
  EXPECT_EQ(market_->deal(opened[0])->request, waiting->id);
}

// A tick reads the ledger for a bounded number of deals (its time budget, at least
// kMinDealReadsPerTick), going round from where the last one stopped: with no time to spare,
// 40 deals all closed on the ledger are read 16, 16 and 8 a tick, and every one is freed.
TEST_F(MarketTest, ATickReadsTheLedgerForAFewDealsAtATimeAndFreesEveryClosedOneInTurn) {
  size_t reads = 0;
  ledger::testing::FaultyLedger counting(*ledger_);
  counting.deal_fault = [&](const Hash&) -> std::optional<Error> {
    ++reads;
    return std::nullopt;
  };
  MarketConfig config{100, {}};
  config.tick_read_budget = std::chrono::milliseconds(0);
  market_ = std::make_unique<Market>(counting, key("market"), clock_, config);
  std::vector<Hash> deals;
  for (uint8_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(place(offer(1000, static_cast<uint8_t>(2 + i), i)));
    auto r = place(request(1000, 1, i));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->deals.size(), 1u);
    deals.push_back(r->deals[0]);
  }
  for (const Hash& d : deals) {
    Amount paid = Amount::from_base(U256(1000));
    auto proof = crypto::sign(
        requester_, crypto::eip712::digest(sep(), BalanceProof{d, paid.base()}.struct_hash()));
    exec(provider_, ledger::CloseDeal{d, paid, *proof, ledger::CloseReason::requester_closed});
  }
  ASSERT_EQ(market_->open_deals(), 40u);
  for (auto [read, open] : {std::pair<size_t, size_t>{16, 24}, {16, 8}, {8, 0}}) {
    reads = 0;
    market_->tick();
    EXPECT_EQ(reads, read);
    EXPECT_EQ(market_->open_deals(), open);
  }
  reads = 0;
  market_->tick();
  EXPECT_EQ(reads, 0u) << "released deals are not read again";
  EXPECT_EQ(market_->profiles().get(provider_.address()).provided, 40u);
}

TEST_F(MarketTest, AnExitThatNeverGetsReadyIsClosedByTheClock) {
  auto o = place(offer(1'000'000));
  auto r = place(request(2'000'000));
  Hash deal = r->deals.at(0);
  clock_.advance(Millis(29'000));
  market_->tick();
  EXPECT_NE(market_->deal_status(deal)->phase, DealPhase::closed);
  clock_.advance(Millis(60'000));
  market_->tick();
  DealStatus s = market_->deal_status(deal).value();
  EXPECT_EQ(s.phase, DealPhase::closed);
  EXPECT_EQ(s.reason, ledger::CloseReason::provider_failed);
  EXPECT_FALSE(market_->deal(deal)->released);
  // The requester takes its money back the only way it can alone: an uncooperative close
  // admitting nothing, then settle after the challenge period.
  exec(requester_,
       ledger::UncooperativeClose{deal, Amount(), ledger::CloseReason::provider_failed});
  clock_.advance(g_.challenge_period);
  exec(requester_, ledger::Settle{deal});
  EXPECT_EQ(ledger_->wallet(requester_.address())->reserved, Amount());
  market_->tick();
  EXPECT_TRUE(market_->deal(deal)->released);
  EXPECT_TRUE(market_->book().contains(o->id));
}

TEST_F(MarketTest, OnlyTheOwnerCancels) {
  Offer o = offer(10);
  auto placed = place(o);
  Hash h = crypto::eip712::StructHasher(crypto::eip712::type_hash("OrderCancel(bytes32 orderHash)"))
               .add_word(o.struct_hash())
               .finish();
  SignedCancel by_stranger{o.struct_hash(), sign_order(key("mallory"), h)};
  EXPECT_EQ(market_->cancel(by_stranger).error().code(), MarketErrc::not_owner);
  SignedCancel by_owner{o.struct_hash(), sign_order(provider_, h)};
  ASSERT_TRUE(market_->cancel(by_owner));
  EXPECT_FALSE(market_->book().contains(placed->id));
  EXPECT_EQ(market_->cancel(by_owner).error().code(), MarketErrc::unknown_order);
}

// Regression: the off-chain cancel was CancelOrder(bytes32 orderHash,uint64 nonce) at nonce 0
// under the ledger domain, byte for byte the embedded ledger's cancelOrder transaction at nonce 0:
// the market (or anyone it showed the cancel to) could submit it as the owner's first ledger
// transaction. Now its digest is no transaction's, the ledger refuses it, and the market refuses
// a signature over the transaction as a cancel.
TEST_F(MarketTest, AnOffChainCancelIsNotALedgerTransactionNorTheReverse) {
  const crypto::PrivateKey owner = key("fresh-provider");  // nonce 0 on the ledger
  Offer o = offer(10);
  o.provider = owner.address();
  ASSERT_TRUE(market_->place_offer(o, sign_order(owner, o.struct_hash())));
  const Hash order = o.struct_hash();
  const Hash off_chain = crypto::eip712::digest(sep(), cancel_struct_hash(order));
  ledger::UnsignedTx tx = ledger_->prepare(owner.address(), ledger::CancelOrder{order}).value();
  ASSERT_EQ(tx.nonce, 0u);
  EXPECT_NE(tx.digest, off_chain);
  EXPECT_NE(OrderCancel::encoded_type(), ledger::op_encoded_type(tx.op));
  const crypto::Signature cancel_sig = sign_order(owner, cancel_struct_hash(order));
  auto as_tx = ledger_->submit(ledger::SignedTx{tx, cancel_sig});
  ASSERT_FALSE(as_tx);
  EXPECT_EQ(as_tx.error().code(), ledger::LedgerErrc::bad_signature);
  EXPECT_EQ(ledger_->nonce_of(owner.address()).value(), 0u);
  EXPECT_FALSE(ledger_->order_cancelled(owner.address(), order).value());
  // The owner's signed transaction is no cancel for the market.
  const crypto::Signature tx_sig = crypto::sign(owner, tx.digest).value();
  EXPECT_EQ(market_->cancel(SignedCancel{order, tx_sig}).error().code(), MarketErrc::not_owner);
  EXPECT_TRUE(market_->cancel(SignedCancel{order, cancel_sig}));
}

TEST_F(MarketTest, SignedOriginalsOfDeadOrdersAreForgotten) {
  Offer first;
  for (uint64_t i = 0; i < 1100; ++i) {
    Offer o = offer(10, static_cast<uint8_t>(2 + i % 200), 100 + i);
    if (i == 0) first = o;
    ASSERT_TRUE(place(o));
    Hash h = cancel_struct_hash(o.struct_hash());
    ASSERT_TRUE(market_->cancel(SignedCancel{o.struct_hash(), sign_order(provider_, h)}));
  }
  Offer kept = offer(10, 250, 5000);
  ASSERT_TRUE(place(kept));
  market_->tick();
  // 1,101 placed, 1 live: the dead ones were swept once they reached 1,024 (+ twice the live).
  EXPECT_LT(market_->orders_kept(), 1024u);
  // The live offer's original is kept: a request still opens a deal from it.
  auto r = place(request(20));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->deals.size(), 1u);
  auto again = place(first);
  ASSERT_FALSE(again) << "a forgotten order still cannot be placed again";
  EXPECT_EQ(again.error().code(), MarketErrc::duplicate_order);
}

// The node's server thread for a market that opens deals in the background: what the ledger's
// threads post waits here until the test runs it. Shared with the posts, which may come after
// the test's fixture is gone (the ledger answering at its shutdown).
class PostQueue {
 public:
  static Market::Post post_to(std::shared_ptr<PostQueue> q) {
    return [q](std::function<void()> work) {
      std::lock_guard lock(q->mu_);
      q->work_.push_back(std::move(work));
      q->cv_.notify_all();
    };
  }
  // Runs posted work, one at a time, until `done` holds; false after 20 s without it.
  bool run_until(const std::function<bool()>& done) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
      std::function<void()> work;
      {
        std::unique_lock lock(mu_);
        if (!cv_.wait_until(lock, until, [&] { return !work_.empty(); })) return false;
        work = std::move(work_.front());
        work_.pop_front();
      }
      work();
      ++ran_;
    }
    return true;
  }
  size_t ran() const { return ran_; }

 private:
  size_t ran_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> work_;
};

class BackgroundMarketTest : public MarketTest {
 protected:
  void SetUp() override {
    MarketTest::SetUp();
    market_->open_deals_in_background(PostQueue::post_to(posts_), [this](std::vector<Hash> d) {
      opened_later_.insert(opened_later_.end(), d.begin(), d.end());
    });
  }
  // Places a request as the node does (answered once its fills have their outcomes).
  std::shared_ptr<std::optional<Result<PlaceResult>>> place_later(
      const Request& r, const crypto::PrivateKey* k = nullptr) {
    auto answer = std::make_shared<std::optional<Result<PlaceResult>>>();
    Placement p{false, {}, r, sign_order(k ? *k : requester_, r.struct_hash()), std::nullopt, {}};
    market_->place(std::span(&p, 1), [answer](std::vector<Result<PlaceResult>> placed) {
      *answer = std::move(placed[0]);
    });
    return answer;
  }
  bool wait(const std::shared_ptr<std::optional<Result<PlaceResult>>>& answer) {
    return posts_->run_until([&] { return answer->has_value(); });
  }

  std::shared_ptr<PostQueue> posts_ = std::make_shared<PostQueue>();
  std::vector<Hash> opened_later_;
};

// The market does not wait for the ledger's block: the request's answer comes once its deal is
// open, and meanwhile the fill holds the offer's place and the market takes other commands.
TEST_F(BackgroundMarketTest, APlacementIsAnsweredOnceItsDealIsOpenAndTheMarketServesMeanwhile) {
  auto o = place(offer(1'000'000));
  ASSERT_TRUE(o) << o.error().message();
  auto answer = place_later(request(2'000'000));
  EXPECT_FALSE(answer->has_value()) << "answered before the ledger had the deal";
  EXPECT_EQ(market_->fills_in_flight(), 1u);
  EXPECT_FALSE(market_->book().contains(o->id)) << "the fill holds the offer's only place";
  auto o2 = place(offer(3'000'000, 3, 2));
  ASSERT_TRUE(o2) << o2.error().message();
  EXPECT_TRUE(market_->book().contains(o2->id));
  ASSERT_TRUE(wait(answer));
  ASSERT_TRUE(**answer) << (*answer)->error().message();
  ASSERT_EQ((**answer)->deals.size(), 1u);
  const Hash id = (**answer)->deals[0];
  EXPECT_EQ(ledger_->deal(id)->price_per_second, U256(1'000'000));
  ASSERT_NE(market_->deal(id), nullptr);
  EXPECT_EQ(market_->deal(id)->offer, o->id);
  EXPECT_EQ(market_->deal_status(id)->phase, DealPhase::pending);
  EXPECT_EQ(market_->fills_in_flight(), 0u);
  EXPECT_TRUE(opened_later_.empty()) << "the placement's own deal is its answer's";
}

// A fill the ledger refuses after the market went on is undone then: the poor requester's
// request leaves, the offer's place returns and goes to the request that rested meanwhile, whose
// deal opens in the background; the refused placement's answer waits for that re-match too.
TEST_F(BackgroundMarketTest, ARefusalThatComesLaterUndoesTheFillAndMatchesAgain) {
  auto o = place(offer(1'000'000'000'000'000ull));
  ASSERT_TRUE(o);
  crypto::PrivateKey poor = key("poor");
  Request pr = request(2'000'000'000'000'000ull);
  pr.requester = poor.address();
  auto refused = place_later(pr, &poor);
  auto rested = place_later(request(2'000'000'000'000'000ull, 1, 7));
  ASSERT_TRUE(rested->has_value()) << "nothing to fill: answered at once";
  ASSERT_TRUE(**rested);
  EXPECT_TRUE((**rested)->deals.empty());
  ASSERT_TRUE(wait(refused));
  ASSERT_TRUE(**refused) << (*refused)->error().message();
  ASSERT_EQ((**refused)->refused.size(), 1u);
  EXPECT_EQ((**refused)->refused[0].second.code(), ledger::LedgerErrc::insufficient_funds);
  EXPECT_FALSE(market_->book().contains((**refused)->id));
  ASSERT_EQ((**refused)->deals.size(), 1u) << "the deal the freed place made";
  const DealRecord* d = market_->deal((**refused)->deals[0]);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->request, (**rested)->id);
  EXPECT_EQ(d->offer, o->id);
  EXPECT_EQ(ledger_->deal(d->deal_id)->requester, requester_.address());
}

// A request of one that its fill completed, then an offer placed while the fill is on its way
// (the book expires and forgets retired requests at each command), then the ledger refusing the
// offer: the request comes back whole and takes the new offer.
TEST_F(BackgroundMarketTest, ARequestCompletedByAFillRefusedLaterComesBackAfterOtherCommands) {
  Offer cancelled = offer(1'000'000, 2, 1);
  ASSERT_TRUE(place(cancelled));
  exec(provider_, ledger::CancelOrder{cancelled.struct_hash()});  // on the ledger only
  auto answer = place_later(request(2'000'000));
  ASSERT_EQ(market_->fills_in_flight(), 1u);
  auto o2 = place(offer(1'500'000, 3, 2));
  ASSERT_TRUE(o2);
  EXPECT_TRUE(o2->deals.empty()) << "the request is filled for now";
  market_->tick();
  ASSERT_TRUE(wait(answer));
  ASSERT_TRUE(**answer);
  ASSERT_EQ((**answer)->refused.size(), 1u);
  ASSERT_EQ((**answer)->deals.size(), 1u) << "the request came back and took the new offer";
  EXPECT_EQ(market_->deal((**answer)->deals[0])->offer, o2->id);
}

// Many fills on their way at once, one of them refused (an offer cancelled on the ledger): each
// gets the nonce its turn leaves, so the refusal costs the others nothing, and the request of
// four still gets four IPs.
TEST_F(BackgroundMarketTest, ManyFillsInFlightKeepTheirNoncesPastARefusal) {
  std::vector<OrderId> offers;
  for (uint8_t i = 0; i < 5; ++i) {
    Offer of = offer(1'000'000 + i, static_cast<uint8_t>(2 + i), 10 + i);
    auto placed = place(of);
    ASSERT_TRUE(placed);
    offers.push_back(placed->id);
    if (i == 1) exec(provider_, ledger::CancelOrder{of.struct_hash()});  // on the ledger only
  }
  uint64_t nonce = ledger_->nonce_of(market_->address()).value();
  auto answer = place_later(request(2'000'000, 4, 1));
  EXPECT_EQ(market_->fills_in_flight(), 4u);
  ASSERT_TRUE(wait(answer));
  ASSERT_TRUE(**answer);
  EXPECT_EQ((**answer)->refused.size(), 1u);
  ASSERT_EQ((**answer)->deals.size(), 4u);
  std::set<OrderId> used;
  for (const Hash& id : (**answer)->deals) used.insert(market_->deal(id)->offer);
  EXPECT_FALSE(used.contains(offers[1]));
  EXPECT_EQ(used.size(), 4u);
  EXPECT_EQ(ledger_->nonce_of(market_->address()).value(), nonce + 4) << "no nonce lost";
}

// Fills still on their way when the market goes (the node shutting down): what the ledger posts
// afterwards touches nothing of it.
TEST_F(BackgroundMarketTest, OutcomesAfterTheMarketIsGoneDoNothing) {
  ASSERT_TRUE(place(offer(1'000'000)));
  auto answer = place_later(request(2'000'000));
  EXPECT_EQ(market_->fills_in_flight(), 1u);
  market_.reset();
  ASSERT_TRUE(posts_->run_until([&] { return posts_->ran() == 1; })) << "the outcome was posted";
  EXPECT_FALSE(answer->has_value());
}

class JournaledMarketTest : public MarketTest {
 protected:
  void SetUp() override {
    MarketTest::SetUp();
    journal_ = Journal::open(journal_dir_.path()).value();
    market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
    ASSERT_EQ(market_->recover().value(), 0u);
  }
  // The market (the base's member) goes first: it snapshots into the journal on shutdown.
  void TearDown() override { market_.reset(); }
  // A clean restart: the market snapshots on shutdown, the new one loads the snapshot. With
  // `journal_only`, the snapshot is dropped first: the whole journal is replayed (the fixture
  // never prunes it).
  void restart(bool journal_only = false) {
    market_.reset();
    if (journal_only) {
      ASSERT_TRUE(journal_->drop_snapshot());
    }
    journal_.reset();
    journal_ = Journal::open(journal_dir_.path()).value();
    market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
    auto n = market_->recover();
    ASSERT_TRUE(n) << n.error().message();
  }
  MarketConfig config_{100, {}, 10'000, false};
  TempDir journal_dir_;
  std::unique_ptr<Journal> journal_;
};

// An order's hash is remembered so that its signed copy is never placed twice, until a day after
// the order's expiry (by then it is refused as expired anyway); then it is forgotten, at the next
// journaled command, the same in the run, in a replay of the journal and after a snapshot.
// Before, every hash ever placed stayed in memory and in every snapshot.
TEST_F(JournaledMarketTest, AnOrderHashIsForgottenADayAfterItsExpiryAndNeverPlacedTwice) {
  const Offer o = offer(1'000'000, 2, 1);
  const Hash h = o.struct_hash();
  ASSERT_TRUE(place(o));
  auto again = place(o);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), MarketErrc::duplicate_order);
  clock_.advance(std::chrono::seconds(3600 + 1));
  ASSERT_TRUE(place(offer(1'000'000, 3, 2)));
  EXPECT_TRUE(market_->knows(h)) << "kept for a day after its expiry";
  auto expired = place(o);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code(), MarketErrc::bad_order) << expired.error().message();
  clock_.advance(std::chrono::seconds(86'400));
  EXPECT_TRUE(market_->knows(h)) << "forgotten at a journaled command only";
  ASSERT_TRUE(place(offer(1'000'000, 4, 3)));
  EXPECT_FALSE(market_->knows(h));
  expired = place(o);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code(), MarketErrc::bad_order) << "forgotten, still not placed";
  const Hash kept = offer(1'000'000, 4, 3).struct_hash();
  restart();
  EXPECT_FALSE(market_->knows(h));
  EXPECT_TRUE(market_->knows(kept));
  restart(/*journal_only=*/true);
  EXPECT_FALSE(market_->knows(h));
  EXPECT_TRUE(market_->knows(kept));
}

// A released deal is kept (its status, the listings) for a week after its release, then
// forgotten at the next journaled command, in the run, in a replay and after a snapshot alike;
// the ledger keeps it. Before, every deal the market ever opened stayed in its deal book, in every
// snapshot and in every walk of the deals.
TEST_F(JournaledMarketTest, AReleasedDealIsForgottenAWeekAfterItsRelease) {
  ASSERT_TRUE(place(offer(1'000'000)));
  auto r = place(request(2'000'000, 1, 1));
  ASSERT_EQ(r->deals.size(), 1u);
  const Hash deal = r->deals[0];
  exec(provider_,
       ledger::CloseDeal{deal, Amount(), std::nullopt, ledger::CloseReason::provider_closed});
  market_->tick();  // sees the close, journals the release
  ASSERT_NE(market_->deal(deal), nullptr);
  ASSERT_TRUE(market_->deal(deal)->released);
  clock_.advance(std::chrono::seconds(Market::kForgetReleasedAfterSeconds - 60));
  ASSERT_TRUE(place(offer(1'000'000, 3, 2)));
  EXPECT_NE(market_->deal(deal), nullptr) << "kept for a week";
  clock_.advance(std::chrono::seconds(120));
  market_->tick();
  EXPECT_NE(market_->deal(deal), nullptr) << "forgotten at a journaled command only";
  ASSERT_TRUE(place(offer(1'000'000, 4, 3)));
  EXPECT_EQ(market_->deal(deal), nullptr);
  EXPECT_EQ(market_->deal_status(deal).error().code(), MarketErrc::unknown_deal);
  EXPECT_TRUE(ledger_->deal(deal)) << "the ledger keeps it";
  restart();
  EXPECT_EQ(market_->deal(deal), nullptr);
  restart(/*journal_only=*/true);
  EXPECT_EQ(market_->deal(deal), nullptr);
}

// A snapshot whose file cannot be written (here its temporary name is taken by a directory) is
// reported, the market goes on, and a later snapshot (after another interval) replaces it.
TEST_F(JournaledMarketTest, ASnapshotThatCannotBeWrittenIsReportedAndTriedAgain) {
  market_.reset();
  MarketConfig often = config_;
  often.snapshot_every = 2;
  market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, often, journal_.get());
  ASSERT_TRUE(market_->recover());
  std::filesystem::create_directory(journal_dir_.path() / "snapshot.2.tmp");
  uint8_t ip = 2;
  auto place_next = [&] {
    ASSERT_TRUE(place(offer(1'000'000, ip, ip))) << int(ip);
    ++ip;
  };
  // The snapshot at entry 2 is written in the background and settled at a later command.
  for (int i = 0; i < 2; ++i) place_next();
  while (!market_->snapshot_failure() && ip < 120) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    place_next();
  }
  ASSERT_TRUE(market_->snapshot_failure().has_value());
  EXPECT_NE(market_->snapshot_failure()->find("snapshot.2.tmp"), std::string::npos)
      << *market_->snapshot_failure();
  while (market_->snapshot_failure() && ip < 240) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    place_next();
  }
  EXPECT_FALSE(market_->snapshot_failure().has_value()) << "a later snapshot is written";
  EXPECT_GT(journal_->load_snapshot().value()->seq, 2u);
}

// Review of the forgetting: a released deal still takes its parties' events until its end. An
// event more than a week after the release used to journal first and forget the deal inside
// journal(), then apply to the freed record (and its replay, which forgets first, failed).
// Released deals are now forgotten only where orders are placed, which hold no deal.
TEST_F(JournaledMarketTest, AnEventOnADealReleasedAWeekAgoIsSafeAndReplays) {
  // Parties that stay live for days between heartbeats (the test sends two, not thousands).
  market_.reset();
  config_.timeouts.liveness_timeout = std::chrono::hours(24 * 10);
  market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
  ASSERT_TRUE(market_->recover());
  Offer o = offer(1'000);
  o.max_duration = 30 * 86'400;
  o.expiry = now_s() + 40 * 86'400;
  auto offered = place(o);
  ASSERT_TRUE(offered) << offered.error().message();
  Request r = request(2'000);
  r.duration = 20 * 86'400;
  r.budget = U256(2'000ull * r.duration);
  auto placed = place(r);
  ASSERT_TRUE(placed) << placed.error().message();
  ASSERT_EQ(placed->deals.size(), 1u);
  const Hash deal = placed->deals[0];
  ASSERT_TRUE(market_->status_event(event(deal, Party::provider, PartyState::ready, 1)));
  ASSERT_TRUE(market_->status_event(event(deal, Party::requester, PartyState::connected, 1)));
  exec(provider_,
       ledger::CloseDeal{deal, Amount(), std::nullopt, ledger::CloseReason::provider_closed});
  market_->tick();
  ASSERT_TRUE(market_->deal(deal)->released);
  clock_.advance(std::chrono::seconds(8 * 86'400));
  auto ev = market_->status_event(event(deal, Party::provider, PartyState::ready, 2));
  ASSERT_TRUE(ev) << ev.error().message();
  EXPECT_NE(market_->deal(deal), nullptr) << "not forgotten under the event";
  ASSERT_TRUE(place(offer(1'000, 3, 2)));
  EXPECT_EQ(market_->deal(deal), nullptr) << "forgotten at the next placement";
  restart(/*journal_only=*/true);  // the event's entry replays
  EXPECT_EQ(market_->deal(deal), nullptr);
}

// An attack on the parallel replay: a journal entry edited on disk (the offer's price lowered,
// its signature kept) is recovered on a helper thread to another signer, and the restart fails
// naming the entry, as it did when replay recovered each signature itself.
TEST_F(JournaledMarketTest, AnOrderEditedInTheJournalStopsTheReplay) {
  ASSERT_TRUE(place(offer(1'000'000)));
  ASSERT_TRUE(place(offer(3'000'000, 3, 2)));
  market_.reset();
  ASSERT_TRUE(journal_->drop_snapshot());
  journal_.reset();
  // The second offer's entry, its price lowered and its signature kept.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((journal_dir_.path() / "market.db").string().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* read = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT kind, body FROM journal WHERE seq = 2", -1, &read, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(read), SQLITE_ROW);
  std::string kind = reinterpret_cast<const char*>(sqlite3_column_text(read, 0));
  std::string body(static_cast<const char*>(sqlite3_column_blob(read, 1)),
                   static_cast<size_t>(sqlite3_column_bytes(read, 1)));
  sqlite3_finalize(read);
  ASSERT_EQ(kind, "offer.bin");
  auto entry = decode_order_entry(kind, body);
  ASSERT_TRUE(entry) << entry.error().message();
  ASSERT_EQ(entry->offer.price_per_second, U256(3'000'000));
  entry->offer.price_per_second = U256(2'000'000);
  std::string edited = encode_order_entry(*entry);
  sqlite3_stmt* write = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "UPDATE journal SET body = ? WHERE seq = 2", -1, &write, nullptr),
      SQLITE_OK);
  sqlite3_bind_blob(write, 1, edited.data(), static_cast<int>(edited.size()), SQLITE_STATIC);
  ASSERT_EQ(sqlite3_step(write), SQLITE_DONE);
  sqlite3_finalize(write);
  EXPECT_EQ(sqlite3_changes(db), 1) << "the entry's price was edited";
  sqlite3_close(db);
  journal_ = Journal::open(journal_dir_.path()).value();
  market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
  auto r = market_->recover();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("journal entry 2 (offer.bin) does not replay"),
            std::string::npos)
      << r.error().message();
  market_.reset();  // not recovered: writes nothing on shutdown
}

// An order's journal entry is binary (market/order_entry.h); journals written before hold JSON
// entries, which replay reads as they are, in the same journal as binary ones. A binary entry
// cut short stops the replay naming it.
TEST_F(JournaledMarketTest, OrdersJournaledAsJsonBeforeReplayBesideBinaryOnes) {
  const Offer old_offer = offer(1'000'000, 2, 1);
  const Request old_request = request(2'000'000);
  nlohmann::json o = {{"offer", ledger::to_json(old_offer)},
                      {"signature", sign_order(provider_, old_offer.struct_hash()).to_hex()}};
  nlohmann::json q = {{"request", ledger::to_json(old_request)},
                      {"signature", sign_order(requester_, old_request.struct_hash()).to_hex()}};
  ASSERT_TRUE(journal_->append("offer", o.dump(), clock_.now()));
  ASSERT_TRUE(journal_->append("request", q.dump(), clock_.now()));
  restart(/*journal_only=*/true);
  ASSERT_TRUE(market_->order(old_offer.struct_hash()));
  ASSERT_TRUE(market_->order(old_request.struct_hash()));
  EXPECT_EQ(market_->open_deals(), 1u) << "the old request filled from the old offer";
  ASSERT_TRUE(place(offer(1'500'000, 3, 2)));  // journaled in binary, after the JSON ones
  const size_t offers = market_->book().offers();
  restart(/*journal_only=*/true);
  EXPECT_EQ(market_->book().offers(), offers);
  EXPECT_EQ(market_->open_deals(), 1u);

  Placement cut;
  cut.is_offer = true;
  cut.offer = offer(1'700'000, 4, 3);
  cut.signature = sign_order(provider_, cut.offer.struct_hash());
  std::string body = encode_order_entry(cut);
  ASSERT_TRUE(decode_order_entry("offer.bin", body));
  EXPECT_FALSE(decode_order_entry("offer.bin", body + "x"));
  EXPECT_FALSE(decode_order_entry("request.bin", body));
  body.resize(body.size() - 1);
  auto bad = decode_order_entry("offer.bin", body);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), MarketErrc::storage);
  uint64_t seq = journal_->append("offer.bin", body, clock_.now()).value();
  market_.reset();
  ASSERT_TRUE(journal_->drop_snapshot());
  journal_.reset();
  journal_ = Journal::open(journal_dir_.path()).value();
  market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
  auto r = market_->recover();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find(fmt::format("journal entry {} (offer.bin) does not replay: "
                                                 "a damaged offer.bin entry",
                                                 seq)),
            std::string::npos)
      << r.error().message();
  market_.reset();
}

// Review: a cancel of an order that expired since the last tick was journaled (the book still
// held it), then failed; its replay, which expires the book first, failed, and so did every
// restart. It is now refused before it is journaled.
TEST_F(JournaledMarketTest, ACancelOfAnOrderExpiredSinceTheLastTickIsRefusedAndReplays) {
  const Offer o = offer(1'000'000);
  auto placed = place(o);
  ASSERT_TRUE(placed);
  clock_.advance(std::chrono::seconds(3600 + 1));  // past its expiry; no tick since
  auto c = market_->cancel(
      SignedCancel{o.struct_hash(), sign_order(provider_, cancel_struct_hash(o.struct_hash()))});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), MarketErrc::unknown_order) << c.error().message();
  restart(/*journal_only=*/true);  // recovers (the fixture asserts it)
  market_->tick();
  EXPECT_FALSE(market_->book().contains(placed->id));
}

// #19 review: a fill the ledger refused after later commands (background mode) is journaled where
// its refusal came, and replay holds the fill until there. The request that rested meanwhile
// gets the offer as in the run; and a refusal whose reason has gone since (the poor requester
// deposited) opens no deal at replay that the run never had.
TEST_F(JournaledMarketTest, AFillRefusedAfterLaterCommandsReplaysAsTheRunWent) {
  auto posts = std::make_shared<PostQueue>();
  market_->open_deals_in_background(PostQueue::post_to(posts), [](std::vector<Hash>) {});
  auto later = [&](const Request& r, const crypto::PrivateKey& k) {
    auto answer = std::make_shared<std::optional<Result<PlaceResult>>>();
    Placement p{false, {}, r, sign_order(k, r.struct_hash()), std::nullopt, {}};
    market_->place(std::span(&p, 1), [answer](std::vector<Result<PlaceResult>> placed) {
      *answer = std::move(placed[0]);
    });
    return answer;
  };
  const Offer of = offer(1'000'000'000'000'000ull);
  ASSERT_TRUE(place(of));
  crypto::PrivateKey poor = key("poor");
  Request pr = request(2'000'000'000'000'000ull);
  pr.requester = poor.address();
  auto refused = later(pr, poor);
  auto rested = later(request(2'000'000'000'000'000ull, 1, 7), requester_);
  ASSERT_TRUE(posts->run_until([&] { return refused->has_value(); }));
  ASSERT_TRUE(**refused);
  ASSERT_EQ((**refused)->refused.size(), 1u);
  ASSERT_EQ((**refused)->deals.size(), 1u);
  const Hash won = (**refused)->deals[0];
  ASSERT_TRUE(rested->has_value() && **rested);
  const OrderId rested_id = (**rested)->id;
  exec(key("early"), ledger::Transfer{poor.address(), Amount::from_tokens(1000).value()});
  exec(poor, ledger::Deposit{Amount::from_tokens(1000).value()});
  restart(/*journal_only=*/true);
  ASSERT_NE(market_->deal(won), nullptr) << "the deal the run opened is the replayed market's";
  EXPECT_EQ(market_->deal(won)->request, rested_id);
  EXPECT_FALSE(ledger_->deal(ledger::deal_id_for(of.struct_hash(), pr.struct_hash(), 0)))
      << "replay opened a deal the run never had";
  EXPECT_EQ(market_->fills_in_flight(), 0u);
}

// #19 review: replay asks the ledger whether each fill's deal is already there. A read that
// fails (the chain not answering) used to count as "no deal", and the fill was sent again: the
// ledger refused it, and the replayed market undid a deal that is live on the ledger. Recovery
// now fails at that entry, with the reason, and succeeds once the ledger answers.
TEST_F(JournaledMarketTest, ReplayFailsRatherThanGuessWhenTheLedgerCannotSayIfADealExists) {
  ASSERT_TRUE(place(offer(1'000'000)));
  auto r = place(request(2'000'000));
  ASSERT_EQ(r->deals.size(), 1u);
  const Hash deal = r->deals[0];
  market_.reset();
  ASSERT_TRUE(journal_->drop_snapshot());
  journal_.reset();
  journal_ = Journal::open(journal_dir_.path()).value();
  ledger::testing::FaultyLedger faulty(*ledger_);
  faulty.deal_fault = [](const Hash&) -> std::optional<Error> {
    return Error(ledger::LedgerErrc::storage, "the chain does not answer");
  };
  {
    Market m(faulty, key("market"), clock_, config_, journal_.get());
    auto n = m.recover();
    ASSERT_FALSE(n) << "recovered on a guess";
    EXPECT_NE(n.error().message().find("the chain does not answer"), std::string::npos)
        << n.error().message();
  }
  EXPECT_EQ(ledger_->events_of_account(key("market").address(), 100)->size(), 1u)
      << "no fill sent again";
  faulty.deal_fault = nullptr;
  journal_.reset();
  journal_ = Journal::open(journal_dir_.path()).value();
  market_ = std::make_unique<Market>(faulty, key("market"), clock_, config_, journal_.get());
  ASSERT_TRUE(market_->recover());
  EXPECT_NE(market_->deal(deal), nullptr);
  EXPECT_EQ(ledger_->events_of_account(key("market").address(), 100)->size(), 1u);
  market_.reset();  // before `faulty`, which it reads
}

// A journal written before the cancel had its own type holds cancels signed over the ledger's
// CancelOrder(orderHash, nonce 0): they still replay (a node upgraded over its data starts),
// while a client's cancel of that form is refused.
TEST_F(JournaledMarketTest, CancelsJournaledBeforeOrderCancelStillReplay) {
  Offer o = offer(1'000'000, 2, 1);
  auto placed = place(o);
  ASSERT_TRUE(placed) << placed.error().message();
  Hash legacy = crypto::eip712::StructHasher(
                    crypto::eip712::type_hash("CancelOrder(bytes32 orderHash,uint64 nonce)"))
                    .add_word(o.struct_hash())
                    .add_uint(0)
                    .finish();
  crypto::Signature sig = sign_order(provider_, legacy);
  EXPECT_EQ(market_->cancel(SignedCancel{o.struct_hash(), sig}).error().code(),
            MarketErrc::not_owner);
  // What a market before the change journaled when it took that cancel.
  nlohmann::json body = {{"order", o.struct_hash().hex()}, {"signature", sig.to_hex()}};
  ASSERT_TRUE(journal_->append("cancel", body.dump(), clock_.now()));
  restart(true);
  EXPECT_FALSE(market_->book().contains(placed->id));
}

TEST_F(JournaledMarketTest, ARestartedMarketIsWhereItWas) {
  Offer first = offer(1'000'000, 2, 1);
  auto o1 = place(first);
  auto o2 = place(offer(3'000'000, 3, 2));
  auto r1 = place(request(2'000'000, 1, 1));
  ASSERT_EQ(r1->deals.size(), 1u);
  Hash deal = r1->deals[0];
  auto r2 = place(request(2'000'000, 1, 2));  // o2 is too dear for it: rests
  clock_.advance(Millis(1000));
  ASSERT_TRUE(market_->status_event(event(deal, Party::provider, PartyState::ready, 1)));
  ASSERT_TRUE(market_->status_event(event(deal, Party::requester, PartyState::connected, 1)));
  DealStatus before = market_->deal_status(deal).value();

  restart(true);
  EXPECT_EQ(market_->deal_status(deal).value(), before);
  EXPECT_TRUE(market_->book().contains(o2->id));
  EXPECT_TRUE(market_->book().contains(r2->id));
  EXPECT_FALSE(market_->book().contains(o1->id));
  EXPECT_EQ(market_->open_deals(), 1u);
  auto again = place(first);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), MarketErrc::duplicate_order);
  // Replayed events are not accepted twice; the next ones go on from where they were.
  EXPECT_EQ(
      market_->status_event(event(deal, Party::provider, PartyState::ready, 1)).error().code(),
      MarketErrc::bad_sequence);
  ASSERT_TRUE(market_->status_event(event(deal, Party::provider, PartyState::ready, 2)));
  EXPECT_EQ(ledger_->events_of_account(market_->address(), 100)->size(), 1u)
      << "no deal opened twice";
}

// A group of placements (the node's group commit): checked one by one (a duplicate within the
// group, a forged signature and a caller's wrong signer refused alone), journaled in one
// transaction, then applied in order, so that a request later in the group fills an offer
// earlier in it; a restart replays the group to the same book and the same single deal.
TEST_F(JournaledMarketTest, AGroupIsJournaledTogetherAndReplaysToTheSameBook) {
  auto signed_offer = [&](const Offer& o) {
    return Placement{true, o, {}, sign_order(provider_, o.struct_hash()), std::nullopt, {}};
  };
  auto signed_request = [&](const Request& r) {
    return Placement{false, {}, r, sign_order(requester_, r.struct_hash()), std::nullopt, {}};
  };
  uint64_t before = journal_->last_seq().value();
  std::vector<Placement> group;
  group.push_back(signed_offer(offer(1'000'000, 2, 1)));
  group.push_back(signed_offer(offer(1'000'000, 2, 1)));  // the same offer again
  Placement forged = signed_offer(offer(1'000'000, 3, 2));
  forged.signature = sign_order(requester_, forged.offer.struct_hash());
  group.push_back(forged);
  Placement wrong_signer = signed_offer(offer(1'000'000, 4, 3));
  wrong_signer.verified = Placement::Verified{wrong_signer.offer.struct_hash(),
                                              requester_.address()};  // as a caller recovered it
  group.push_back(wrong_signer);
  Placement verified = signed_offer(offer(1'000'000, 5, 4));
  verified.verified = Placement::Verified{verified.offer.struct_hash(), provider_.address()};
  group.push_back(verified);
  group.push_back(signed_request(request(2'000'000, 1, 1)));

  auto placed = market_->place(group);
  ASSERT_EQ(placed.size(), group.size());
  ASSERT_TRUE(placed[0]) << placed[0].error().message();
  EXPECT_EQ(placed[1].error().code(), MarketErrc::duplicate_order);
  EXPECT_EQ(placed[2].error().code(), MarketErrc::bad_signature);
  EXPECT_EQ(placed[3].error().code(), MarketErrc::bad_signature);
  ASSERT_TRUE(placed[4]) << placed[4].error().message();
  ASSERT_TRUE(placed[5]) << placed[5].error().message();
  ASSERT_EQ(placed[5]->deals.size(), 1u) << "the request fills an offer of its own group";
  EXPECT_EQ(journal_->last_seq().value(), before + 3) << "the three accepted, nothing else";
  EXPECT_FALSE(market_->book().contains(placed[0]->id));  // its one place is taken
  EXPECT_TRUE(market_->book().contains(placed[4]->id));

  restart(true);
  EXPECT_FALSE(market_->book().contains(placed[0]->id));
  EXPECT_TRUE(market_->book().contains(placed[4]->id));
  EXPECT_EQ(market_->open_deals(), 1u);
  EXPECT_EQ(ledger_->events_of_account(market_->address(), 100)->size(), 1u)
      << "no deal opened twice";
  EXPECT_EQ(market_->place(std::span(&group[4], 1))[0].error().code(), MarketErrc::duplicate_order);
}

// A provider the node cannot reach (no live exit announcement) is suspended: its offer fills
// nothing, before or after a restart (journal replay and snapshot alike), and once reachable
// again it fills the waiting request at once, one deal only.
TEST_F(JournaledMarketTest, AnUnreachableProviderFillsNothingUntilItIsReachableAgain) {
  ASSERT_TRUE(market_->set_reachable(provider_.address(), false));
  EXPECT_FALSE(market_->reachable(provider_.address()));
  auto o = place(offer(1'000'000));
  ASSERT_TRUE(o) << o.error().message();
  auto r = place(request(2'000'000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->deals.empty());
  EXPECT_TRUE(market_->book().contains(r->id));
  for (bool journal_only : {true, false}) {
    restart(journal_only);
    EXPECT_FALSE(market_->reachable(provider_.address())) << journal_only;
    EXPECT_TRUE(market_->tick().empty());
    EXPECT_EQ(market_->open_deals(), 0u);
  }
  auto opened = market_->set_reachable(provider_.address(), true);
  ASSERT_TRUE(opened) << opened.error().message();
  ASSERT_EQ(opened->size(), 1u);
  EXPECT_TRUE(market_->set_reachable(provider_.address(), true)->empty());  // no change
  restart(true);  // replay repeats the fill as the deal the ledger already has
  EXPECT_EQ(market_->open_deals(), 1u);
  EXPECT_EQ(ledger_->events_of_account(market_->address(), 100)->size(), 1u)
      << "no deal opened twice";
}

// A deal closed on the ledger frees its place when the market journals its release, and replay
// frees it there too, not earlier: replaying a status event must not look at the ledger as it is
// now (closed) and free the place before orders the original run matched with it still busy.
TEST_F(JournaledMarketTest, ReplayFreesAClosedDealsPlaceWhereTheRunDidNotEarlier) {
  auto o = place(offer(1'000'000));
  auto first = place(request(2'000'000, 1, 1));
  ASSERT_EQ(first->deals.size(), 1u);
  Hash deal = first->deals[0];
  clock_.advance(Millis(1000));
  ASSERT_TRUE(market_->status_event(event(deal, Party::provider, PartyState::ready, 1)));
  // The provider closes the deal on the ledger; the market has not ticked since.
  exec(provider_,
       ledger::CloseDeal{deal, Amount(), std::nullopt, ledger::CloseReason::provider_closed});
  auto waiting = place(request(2'000'000, 1, 2));  // no release journaled yet: the place is busy
  ASSERT_TRUE(waiting);
  EXPECT_TRUE(waiting->deals.empty());

  auto deals_opened = [&] {
    auto events = ledger_->events_of_account(market_->address(), 100).value();
    return std::count_if(events.begin(), events.end(), [](const ledger::Event& e) {
      return e.kind == ledger::EventKind::deal_opened;
    });
  };
  restart(true);  // the whole journal replayed, the ledger already closed
  EXPECT_TRUE(market_->book().contains(waiting->id)) << "replay matched what the run did not";
  EXPECT_EQ(deals_opened(), 1) << "replay opened a deal the run never opened";
  // The next tick sees the close, journals the release, and the waiting request gets the place.
  auto opened = market_->tick();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(market_->deal(opened[0])->request, waiting->id);
  restart(true);
  EXPECT_NE(market_->deal(opened[0]), nullptr);
  EXPECT_EQ(deals_opened(), 2);
}

// An offer its provider cancelled on the ledger while its deal ran leaves the book when the deal
// ends (the ledger refuses its next match), and the waiting request keeps waiting. One whose
// deal ended before the cancel returned to the book, and replay returns it too, although the
// ledger now says cancelled.
TEST_F(JournaledMarketTest, AnOfferCancelledOnTheLedgerLeavesWhenItsDealEnds) {
  Offer busy = offer(1'000'000, 2, 1);
  auto o = place(busy);
  auto first = place(request(2'000'000, 1, 1));
  ASSERT_EQ(first->deals.size(), 1u);
  Hash deal = first->deals[0];
  auto waiting = place(request(2'000'000, 1, 2));
  ASSERT_TRUE(waiting->deals.empty());
  exec(provider_, ledger::CancelOrder{busy.struct_hash()});
  exec(provider_,
       ledger::CloseDeal{deal, Amount(), std::nullopt, ledger::CloseReason::provider_closed});
  EXPECT_TRUE(market_->tick().empty()) << "a deal opened on a cancelled offer";
  EXPECT_FALSE(market_->book().is_live(o->id));
  EXPECT_TRUE(market_->book().contains(waiting->id));

  // A second offer whose deal ended before its provider cancelled it on the ledger: its place
  // returned, and replay must return it too (the ledger now says cancelled).
  Offer later = offer(3'000'000, 3, 2);
  auto o2 = place(later);
  auto r3 = place(request(4'000'000, 1, 3));
  ASSERT_EQ(r3->deals.size(), 1u);
  exec(provider_, ledger::CloseDeal{r3->deals[0], Amount(), std::nullopt,
                                    ledger::CloseReason::provider_closed});
  EXPECT_TRUE(market_->tick().empty()) << "the waiting request bids less than the offer asks";
  EXPECT_TRUE(market_->book().contains(o2->id)) << "the place returned";
  exec(provider_, ledger::CancelOrder{later.struct_hash()});

  restart(true);
  EXPECT_FALSE(market_->book().is_live(o->id));
  EXPECT_TRUE(market_->book().contains(o2->id)) << "replay returned the place where the run did";
  EXPECT_TRUE(market_->book().contains(waiting->id));
}

TEST_F(JournaledMarketTest, ATickMatchesAnOfferWhenItsWindowOpensAndReplayRepeatsIt) {
  Offer later = offer(1'000'000);
  later.available_from = now_s() + 60;
  auto o = place(later);
  auto r = place(request(2'000'000));
  ASSERT_TRUE(o && r);
  EXPECT_TRUE(r->deals.empty()) << "the window is not open yet";
  EXPECT_EQ(market_->next_deadline(),
            from_unix_ms(static_cast<int64_t>(later.available_from) * 1000));
  clock_.advance(Millis(59'000));
  EXPECT_TRUE(market_->tick().empty());
  clock_.advance(Millis(1'000));
  auto opened = market_->tick();
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(market_->deal(opened[0])->offer, o->id);
  EXPECT_EQ(market_->deal(opened[0])->request, r->id);
  EXPECT_TRUE(market_->tick().empty());

  restart();  // from the snapshot written on shutdown
  EXPECT_NE(market_->deal(opened[0]), nullptr);
  restart(true);  // from the journal alone: the journaled tick is replayed
  EXPECT_NE(market_->deal(opened[0]), nullptr);
  EXPECT_FALSE(market_->book().contains(r->id));
  EXPECT_EQ(ledger_->events_of_account(market_->address(), 100)->size(), 1u)
      << "no deal opened twice";
}

// A damaged snapshot is detected (checksum) and never used: with the whole journal kept, the
// market replays it instead and says why; with the journal pruned before the snapshot, recovery
// fails with that reason.
TEST_F(JournaledMarketTest, ADamagedSnapshotIsRejectedAndTheJournalReplayedInstead) {
  auto o1 = place(offer(1'000'000, 2, 1));
  auto o2 = place(offer(3'000'000, 3, 2));
  auto r1 = place(request(2'000'000, 1, 1));
  ASSERT_TRUE(o1 && o2 && r1);
  ASSERT_EQ(r1->deals.size(), 1u);
  auto damage = [&](bool prune) {
    market_.reset();  // snapshots on shutdown
    Snapshot snap = journal_->load_snapshot().value().value();
    snap.body[snap.body.size() / 2] ^= 0x01;
    ASSERT_TRUE(journal_->write_snapshot(snap, prune));
  };
  damage(false);
  market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
  auto n = market_->recover();
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 3u) << "every entry replayed";
  ASSERT_TRUE(market_->snapshot_rejected().has_value());
  EXPECT_NE(market_->snapshot_rejected()->find("checksum"), std::string::npos)
      << *market_->snapshot_rejected();
  EXPECT_TRUE(market_->book().contains(o2->id));
  EXPECT_FALSE(market_->book().contains(o1->id));
  EXPECT_NE(market_->deal(r1->deals[0]), nullptr);

  damage(true);
  market_ = std::make_unique<Market>(*ledger_, key("market"), clock_, config_, journal_.get());
  auto pruned = market_->recover();
  ASSERT_FALSE(pruned);
  EXPECT_EQ(pruned.error().code(), MarketErrc::storage);
  EXPECT_NE(pruned.error().message().find("rejected"), std::string::npos);
  EXPECT_NE(pruned.error().message().find("pruned"), std::string::npos);
  market_.reset();  // not recovered: writes nothing on shutdown
}

// A snapshot in another format (here the bare CBOR of format 1) is rejected before decoding.
TEST(SnapshotSeal, RejectsForeignDamagedAndTruncatedBodies) {
  std::string sealed = SnapshotCodec::seal("body");
  EXPECT_EQ(SnapshotCodec::unseal(sealed).value(), "body");
  EXPECT_FALSE(SnapshotCodec::unseal("\xa1gversion\x01"));
  EXPECT_FALSE(SnapshotCodec::unseal(sealed.substr(0, sealed.size() - 1)));
  std::string flipped = sealed;
  flipped.back() ^= 0x20;
  auto bad = SnapshotCodec::unseal(flipped);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("checksum"), std::string::npos);
  std::string other = sealed;
  other[8] = 9;  // the format version
  EXPECT_NE(SnapshotCodec::unseal(other).error().message().find("format 9"), std::string::npos);
}

// Everything a restart must restore, as comparable values.
struct Observed {
  std::string encoded;  // the whole state, less the expiry heap (see below)
  size_t open_deals = 0, offers = 0, requests = 0, kept = 0;
  std::vector<std::string> prints, depth, statuses, profiles;
};

Observed observe(const Market& m, const Address& provider, const Address& requester) {
  Observed o;
  std::string body = SnapshotCodec::encode(m);
  nlohmann::json j = nlohmann::json::from_cbor(body.begin(), body.end());
  // The body is written in place (SnapshotCodec's CborMap): byte for byte what json::to_cbor
  // writes for the same object.
  std::vector<uint8_t> canonical = nlohmann::json::to_cbor(j);
  EXPECT_TRUE(std::string(canonical.begin(), canonical.end()) == body);
  // tick() expires orders without journaling it, so a market that ran has popped expired
  // orders from its heap that a replayed one still holds (they are dead either way).
  j["book"].erase("expiries");
  o.encoded = j.dump();
  o.open_deals = m.open_deals();
  o.offers = m.book().offers();
  o.requests = m.book().requests();
  o.kept = m.orders_kept();
  for (const auto& p : m.recent_deals(1000)) {
    o.prints.push_back(p.deal_id.hex() + " " + p.price_per_second.to_dec() + " " +
                       std::to_string(to_unix_ms(p.at)));
    auto st = m.deal_status(p.deal_id).value();
    o.statuses.push_back(
        fmt::format("{} {} {}", static_cast<int>(st.phase), static_cast<int>(st.reason), st.final));
  }
  for (const char* c : {"DE", "FR"}) {
    auto cc = parse_country(c).value();
    for (auto t : {IpType::residential, IpType::datacenter}) {
      for (const auto& l : m.book().offer_depth(cc, t, 1000))
        o.depth.push_back(fmt::format("o {} {} {} {}", c, l.price.to_dec(), l.orders, l.ips));
    }
    for (const auto& l : m.book().request_depth(cc, 1000))
      o.depth.push_back(fmt::format("r {} {} {} {}", c, l.price.to_dec(), l.orders, l.ips));
  }
  for (const auto& a : {provider, requester}) {
    Profile p = m.profiles().get(a);
    o.profiles.push_back(fmt::format("{} {} {} {} {}", p.rating, p.provided, p.provided_active,
                                     p.requested, p.closed_by_reason[0]));
  }
  return o;
}

// Restarting from the latest snapshot and the journal's tail gives exactly the state a replay
// of the whole journal gives: same deals and their status, book, depth, prints, profiles, and
// the same encoded state, after a random stream of 2,500 orders, cancels and ticks (windows
// opening, orders expiring) with a snapshot every 700 entries (or a quarter of the state's records,
// once more). The image is taken while the market runs: its last snapshot may still be being
// written (a file not yet named, removed at open), so the tail is at most two intervals.
TEST_F(MarketTest, RestartFromSnapshotAndTailEqualsAFullReplay) {
  TempDir run_dir, image_dir, full_dir;
  uint64_t interval = 0;
  MarketConfig config{100, {}, 700, false};  // keep every entry: the full replay needs them
  std::mt19937_64 rng(11);
  {
    auto j = Journal::open(run_dir.path(), JournalOptions{false}).value();
    Market m(*ledger_, key("market"), clock_, config, j.get());
    ASSERT_EQ(m.recover().value(), 0u);
    std::vector<Hash> hashes;
    auto countries = [&] { return parse_country(rng() % 3 == 0 ? "FR" : "DE").value(); };
    for (uint64_t i = 0; i < 2500; ++i) {
      uint64_t x = rng() % 100;
      if (x < 45) {
        Offer o =
            offer(1'000'000 + rng() % 40 * 50'000, static_cast<uint8_t>(1 + i % 250), 100 + i);
        o.market = m.address();
        o.country = countries();
        o.ip_type = rng() % 2 ? IpType::residential : IpType::datacenter;
        o.capacity = 1 + static_cast<uint32_t>(rng() % 3);
        if (rng() % 5 == 0) o.available_from = now_s() + rng() % 600;
        auto r = m.place_offer(o, sign_order(provider_, o.struct_hash()));
        ASSERT_TRUE(r) << r.error().message();
        hashes.push_back(o.struct_hash());
      } else if (x < 90) {
        uint32_t count = 1 + static_cast<uint32_t>(rng() % 3);
        Request q = request(200'000 + rng() % 20 * 50'000, count, 100 + i);
        q.market = m.address();
        q.countries = {countries()};
        q.exclusive = rng() % 6 == 0;
        q.all_or_none = rng() % 6 == 0;
        auto r = m.place_request(q, sign_order(requester_, q.struct_hash()));
        ASSERT_TRUE(r) << r.error().message();
        hashes.push_back(q.struct_hash());
      } else if (x < 95 && !hashes.empty()) {
        const Hash& h = hashes[rng() % hashes.size()];
        Hash sh = cancel_struct_hash(h);
        // Signed by whichever owner it is: one of the two is rejected as not_owner.
        for (const auto* k : {&provider_, &requester_}) {
          (void)m.cancel(SignedCancel{h, sign_order(*k, sh)});
        }
      } else {
        // Now and then two days: order hashes long expired are forgotten.
        clock_.advance(Millis(1000 * (rng() % 20 == 0 ? 180'000 : 1 + rng() % 120)));
        m.tick();
      }
    }
    EXPECT_GT(m.open_deals(), 50u) << "the stream should make deals";
    EXPECT_FALSE(m.knows(hashes.front())) << "the day-long ticks forget the first orders' hashes";
    EXPECT_TRUE(m.knows(hashes.back()));
    interval = m.snapshot_interval();
    // A crash image: the files as they are while the market runs.
    std::filesystem::copy(run_dir.path(), image_dir.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy(run_dir.path(), full_dir.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
  }
  auto full_journal = Journal::open(full_dir.path()).value();
  ASSERT_TRUE(full_journal->drop_snapshot());
  MarketConfig quiet = config;
  quiet.snapshot_every = 0;  // no snapshot on shutdown
  Market full(*ledger_, key("market"), clock_, quiet, full_journal.get());
  auto n_full = full.recover();
  ASSERT_TRUE(n_full) << n_full.error().message();

  auto image_journal = Journal::open(image_dir.path()).value();
  ASSERT_TRUE(image_journal->load_snapshot().value().has_value());
  Market restarted(*ledger_, key("market"), clock_, quiet, image_journal.get());
  auto n_tail = restarted.recover();
  ASSERT_TRUE(n_tail) << n_tail.error().message();
  EXPECT_GT(*n_full, 2000u);
  EXPECT_GT(*n_tail, 0u);
  EXPECT_LT(*n_tail, 2 * interval);

  Observed a = observe(full, provider_.address(), requester_.address());
  Observed b = observe(restarted, provider_.address(), requester_.address());
  EXPECT_EQ(a.open_deals, b.open_deals);
  // The open deals are counted as deals open and go (not walked for each health check): the
  // count agrees with the deals after a replay and after a snapshot and its tail.
  for (const Market* m : {&full, &restarted}) {
    size_t walked = 0;
    m->for_each_deal([&](const DealRecord& d) { walked += d.released ? 0 : 1; });
    EXPECT_EQ(m->open_deals(), walked);
  }
  EXPECT_EQ(a.offers, b.offers);
  EXPECT_EQ(a.requests, b.requests);
  EXPECT_EQ(a.kept, b.kept);
  EXPECT_EQ(a.prints, b.prints);
  EXPECT_EQ(a.statuses, b.statuses);
  EXPECT_EQ(a.depth, b.depth);
  EXPECT_EQ(a.profiles, b.profiles);
  EXPECT_TRUE(a.encoded == b.encoded) << "the encoded states differ";
  EXPECT_GT(a.depth.size(), 10u);
}

TEST(JournalSnapshot, AFailedSnapshotLeavesTheOldOneAndEveryEntry) {
  TempDir dir;
  auto j = Journal::open(dir.path()).value();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(j->append("offer", "{}", from_unix_ms(1000 * i)));
  ASSERT_TRUE(j->write_snapshot({3, "first"}));
  EXPECT_EQ(j->size().value(), 3u) << "entries 1 and 2 pruned, 3 kept";
  EXPECT_EQ(j->load_snapshot().value()->body, "first");
  ASSERT_TRUE(j->append("offer", "{}", from_unix_ms(6000)));
  EXPECT_EQ(j->last_seq().value(), 6u) << "sequence numbers never restart";
  std::vector<uint64_t> after;
  ASSERT_TRUE(j->for_each(
      [&](const JournalEntry& e) -> Result<void> {
        after.push_back(e.seq);
        return {};
      },
      3));
  EXPECT_EQ(after, (std::vector<uint64_t>{4, 5, 6}));
  // Everything pruned but the last entry: the next one still follows it.
  ASSERT_TRUE(j->write_snapshot({6, "second"}));
  EXPECT_EQ(j->size().value(), 1u);
  EXPECT_EQ(j->append("offer", "{}", from_unix_ms(7000)).value(), 7u);
  EXPECT_EQ(j->load_snapshot().value()->seq, 6u);
}

// The crash test: a child process runs a market (with its own ledger) and reports every order
// it acknowledged; it is killed with SIGKILL at a random moment, 20 times. After each restart
// every acknowledged order is known, every deal the ledger holds for the market is in its deal
// book, and no deal was opened twice. With `snapshot_every` > 0 snapshots are written (and the
// journal pruned) every few entries, so kills also land while a snapshot is being written.
void crash_rounds(uint64_t snapshot_every) {
  TempDir ledger_dir, journal_dir;
  ManualClock setup(from_unix_ms(1'767'225'600'000));
  ledger::GenesisConfig g = ledger::testing::named_genesis(setup.now());
  g.challenge_period = ledger::kMinChallengePeriod;
  crypto::PrivateKey provider = key("provider"), requester = key("requester"),
                     market_key = key("market");
  {
    ledger::EmbeddedOptions o;
    o.data_dir = ledger_dir.path();
    auto l = ledger::EmbeddedLedger::open(o, &g, setup).value();
    setup.advance(Millis(2000));
    auto run = [&](const crypto::PrivateKey& k, ledger::Op op) {
      auto tx = l->prepare(k.address(), std::move(op)).value();
      ASSERT_TRUE(l->submit(sign_tx(k, tx)));
    };
    run(key("team"), ledger::FinalizeSale{});
    run(key("early"),
        ledger::Transfer{requester.address(), Amount::from_tokens(1'000'000).value()});
    run(requester, ledger::Deposit{Amount::from_tokens(1'000'000).value()});
  }
  auto open_all = [&](Clock& clock, std::unique_ptr<ledger::EmbeddedLedger>& l,
                      std::unique_ptr<Journal>& j, std::unique_ptr<Market>& m) -> Result<size_t> {
    ledger::EmbeddedOptions o;
    o.data_dir = ledger_dir.path();
    o.verify_threads = 1;
    auto lr = ledger::EmbeddedLedger::open(o, nullptr, clock);
    if (!lr) return std::unexpected(lr.error());
    l = std::move(*lr);
    auto jr = Journal::open(journal_dir.path());
    if (!jr) return std::unexpected(jr.error());
    j = std::move(*jr);
    m = std::make_unique<Market>(*l, key("market"), clock, MarketConfig{0, {}, snapshot_every},
                                 j.get());
    return m->recover();
  };
  std::mt19937_64 rng(7);
  std::set<std::string> acknowledged;
  uint64_t nonce_base = 0;
  for (int round = 0; round < 20; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    nonce_base += 1'000'000;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      ManualClock clock(setup.now() + Millis(round * 1000));
      std::unique_ptr<ledger::EmbeddedLedger> l;
      std::unique_ptr<Journal> j;
      std::unique_ptr<Market> m;
      if (!open_all(clock, l, j, m)) _exit(3);
      Hash sep = l->domain().separator();
      uint64_t now_s = static_cast<uint64_t>(to_unix_seconds(clock.now()));
      for (uint64_t i = 0;; ++i) {
        Hash h;
        bool ok;
        if (i % 2 == 0) {
          Offer o;
          o.provider = provider.address();
          o.ip = parse_ip("127.0." + std::to_string((i / 2) % 250) + ".2").value();
          o.country = parse_country("DE").value();
          o.protocols = protocol::http;
          o.scopes = scope::crawling;
          o.max_duration = 3600;
          o.price_per_second = U256(1000 + i % 7);
          o.market = market_key.address();
          o.expiry = now_s + 100'000;
          o.nonce = nonce_base + i;
          h = o.struct_hash();
          ok = m->place_offer(o, crypto::sign(provider, crypto::eip712::digest(sep, h)).value())
                   .has_value();
        } else {
          Request r;
          r.requester = requester.address();
          r.protocols = protocol::http;
          r.scope = scope::crawling;
          r.duration = 60;
          r.max_price_per_second = U256(1003);
          r.budget = U256(1003 * 60);
          r.market = market_key.address();
          r.expiry = now_s + 100'000;
          r.nonce = nonce_base + i;
          h = r.struct_hash();
          ok = m->place_request(r, crypto::sign(requester, crypto::eip712::digest(sep, h)).value())
                   .has_value();
        }
        if (!ok) _exit(4);
        std::string line = h.hex() + "\n";
        if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
        clock.advance(Millis(1));
      }
    }
    close(fds[1]);
    int status = 0;
    ASSERT_TRUE(ledger::testing::kill_and_collect(
        pid, fds[0], std::chrono::milliseconds(50 + rng() % 250), acknowledged, &status))
        << "the child ended by itself with status " << status;
    ManualClock clock(setup.now() + Millis(round * 1000 + 900));
    std::unique_ptr<ledger::EmbeddedLedger> l;
    std::unique_ptr<Journal> j;
    std::unique_ptr<Market> m;
    auto replayed = open_all(clock, l, j, m);
    ASSERT_TRUE(replayed) << "round " << round << ": " << replayed.error().message();
    for (const auto& hex : acknowledged)
      EXPECT_TRUE(m->knows(Hash::from_hex(hex).value())) << "lost order " << hex;
    auto events = l->events_of_account(market_key.address(), 1'000'000).value();
    std::set<Hash> opened;
    for (const auto& e : events) {
      if (e.kind != ledger::EventKind::deal_opened) continue;
      EXPECT_TRUE(opened.insert(*e.deal).second) << "deal opened twice";
      EXPECT_NE(m->deal(*e.deal), nullptr) << "the deal book lost a deal the ledger holds";
    }
  }
  EXPECT_GT(acknowledged.size(), 20u);
}

TEST(MarketCrash, AcknowledgedOrdersSurviveSigkill) {
  crash_rounds(0);
}

TEST(MarketCrash, AcknowledgedOrdersSurviveSigkillWithSnapshotsEveryFewEntries) {
  crash_rounds(16);
}

}  // namespace
}  // namespace ipsx::market
