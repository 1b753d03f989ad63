// `ipsx node`: the market node. Opens the ledger (the embedded one in --data, as `ipsx market`
// does, or with --ledger ethereum the contracts of a deployment over JSON-RPC) and the market
// with its journal, and serves them over the HTTP API (src/api, docs/api.md) until SIGTERM or
// SIGINT, then shuts down cleanly: the market writes its snapshot, the journal and the ledger
// close.
//
// Every setting is both an option (--read-timeout-ms) and a key of the --config TOML file
// (read_timeout_ms) with the same meaning; an option on the command line wins over the file.
// Unknown keys, wrong types and values out of range are errors naming the file, line and key.
// --print-config prints the effective settings as a config file (docs/node.md).
#include <fmt/format.h>
#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "api/http_server.h"
#include "api/ledger_watch.h"
#include "api/metrics.h"
#include "api/node_routes.h"
#include "cli_util.h"
#include "eth/deployment_file.h"
#include "geo/geo.h"
#include "ledger/embedded_ledger.h"
#include "ledger/orders.h"
#include "log.h"
#include "market/market.h"
#include "open_market.h"
#include "service.h"

namespace ipsx::cli {
namespace {

struct NodeOptions {
  std::string data, journal, keystore, address, password_file, listen = "127.0.0.1:8080";
  uint16_t fee_bps = 0;
  size_t max_body = 256 * 1024;
  uint64_t read_timeout_ms = 10'000;
  size_t max_connections = 16'384;
  size_t max_connections_per_address = 256;
  std::string tls_cert, tls_key;    // https when set
  std::string cors_origins;         // comma-separated origins browsers may call from, or "*"
  std::string ledger = "embedded";  // or "ethereum"
  EthereumEndpoint eth;
  api::NodeLimits limits;
  // Offer checks (docs/api.md "Offer checks"): any of location, ownership, exit, or none.
  std::string offer_checks = "location,ownership,exit";
  std::string probe_listen;    // default: --listen's host, any free port
  std::string probe_endpoint;  // what providers are told to connect to; default: the bound one
  std::string geo_data;    // the @ip-location-db directory; default ./node_modules/@ip-location-db
  std::string geo_static;  // the operator's static table (docs/geo.md)

  std::string config;  // the --config file, if given
  bool print_config = false;
  // "FILE: key" for each setting the config file gave (and no option overrode).
  std::map<std::string, std::string> from_file;

  // How to name a setting in an error: "FILE: key" if the file gave it, else its option.
  std::string where(const std::string& key) const {
    auto it = from_file.find(key);
    if (it != from_file.end()) return it->second;
    std::string option = "--" + key;
    std::replace(option.begin(), option.end(), '_', '-');
    return option;
  }
};

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

// Edit distance, to suggest the key a typo meant.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// --cors-origins: "*", or origins as browsers send them (scheme://host[:port], no path).
std::vector<std::string> parse_cors_origins(const std::string& text, const std::string& where) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= text.size() && !text.empty();) {
    size_t comma = text.find(',', start);
    std::string o =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    o.erase(0, o.find_first_not_of(' '));
    o.erase(o.find_last_not_of(' ') + 1);
    auto scheme = o.find("://");
    bool ok = o == "*" || ((o.starts_with("http://") || o.starts_with("https://")) &&
                           scheme != std::string::npos && o.size() > scheme + 3 &&
                           o.find_first_of("/?# ", scheme + 3) == std::string::npos);
    if (!ok) {
      throw CommandError(fmt::format(
          "{}: '{}' is not an origin: scheme://host[:port] as a browser sends it (no path, no "
          "trailing '/'), or *",
          where, o));
    }
    out.push_back(o);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The settings of `ipsx node`, each an option of `cmd` and a key of the config file bound to one
// field of a NodeOptions. The option of key `read_timeout_ms` is `--read-timeout-ms`. Fields are
// held by reference: the NodeOptions must outlive this. Not thread-safe.
class NodeSettings {
 public:
  NodeSettings(CLI::App* cmd, NodeOptions& o) : cmd_(cmd), o_(o) {}

  // A string setting; `required` is checked by check_required() (after the file is read).
  CLI::Option* text(const std::string& key, std::string& field, const std::string& help,
                    bool required = false) {
    return add(
        key, help, Kind::text, required, field,
        [&field](const toml::node& n, const std::string& where) { field = string_of(n, where); });
  }
  // A file or directory: relative paths in the config file are relative to the file's
  // directory; --print-config prints absolute paths.
  CLI::Option* path(const std::string& key, std::string& field, const std::string& help,
                    bool required = false) {
    return add(key, help, Kind::path, required, field,
               [this, &field](const toml::node& n, const std::string& where) {
                 field = string_of(n, where);
                 if (!field.empty() && std::filesystem::path(field).is_relative())
                   field = (std::filesystem::path(file_).parent_path() / field).string();
               });
  }
  // A string that must be one of `choices`.
  CLI::Option* choice(const std::string& key, std::string& field, const std::string& help,
                      std::vector<std::string> choices) {
    CLI::Option* opt = add(key, help, Kind::text, false, field,
                           [&field, choices](const toml::node& n, const std::string& where) {
                             std::string v = string_of(n, where);
                             if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
                               throw CommandError(fmt::format("{}: '{}' is not one of {}", where, v,
                                                              fmt::join(choices, ", ")));
                             }
                             field = v;
                           });
    return opt->check(CLI::IsMember(choices));
  }
  // An integer from `lo` to `hi`.
  template <class T>
  CLI::Option* integer(const std::string& key, T& field, const std::string& help, T lo, T hi) {
    CLI::Option* opt = add(
        key, help, Kind::integer, false, field,
        [&field, lo, hi](const toml::node& n, const std::string& where) {
          auto v = n.value_exact<int64_t>();
          if (!v) {
            throw CommandError(
                fmt::format("{}: want an integer, not {}", where, toml_type_name(n)));
          }
          if (std::cmp_less(*v, lo) || std::cmp_greater(*v, hi)) {
            throw CommandError(fmt::format("{}: {} is out of range ({} to {})", where, *v, lo, hi));
          }
          field = static_cast<T>(*v);
        });
    return opt->check(CLI::Range(lo, hi));
  }
  // A number (an integer or a float in the file) from `lo` to `hi`.
  CLI::Option* number(const std::string& key, double& field, const std::string& help, double lo,
                      double hi) {
    CLI::Option* opt = add(
        key, help, Kind::number, false, field,
        [&field, lo, hi](const toml::node& n, const std::string& where) {
          if (!n.is_number()) {
            throw CommandError(fmt::format("{}: want a number, not {}", where, toml_type_name(n)));
          }
          double v = n.value<double>().value_or(0);
          if (!(v >= lo && v <= hi)) {
            throw CommandError(fmt::format("{}: {} is out of range ({} to {})", where, v, lo, hi));
          }
          field = v;
        });
    return opt->check(CLI::Range(lo, hi));
  }

  // Reads the config file `file`: each key sets its setting unless its option was given on the
  // command line. Throws CommandError naming the file, line and key for a file that does not
  // parse, an unknown key, a wrong type or a value out of range.
  void load(const std::string& file) {
    file_ = file;
    toml::table t;
    try {
      t = toml::parse_file(file);
    } catch (const toml::parse_error& e) {
      throw CommandError(fmt::format("{}:{}: {}", file, e.source().begin.line, e.description()));
    }
    if (t.contains("centralizer") || t.contains("token")) {
      throw CommandError(
          fmt::format("{}: this looks like a deployment file (`ipsx eth deploy --out`); give it as "
                      "--deployment FILE (or `deployment = \"FILE\"` in the node's --config file)",
                      file));
    }
    for (const auto& [key, value] : t) {
      const Setting* s = find(key.str());
      std::string where = fmt::format("{}:{}: {}", file, value.source().begin.line, key.str());
      if (!s) throw CommandError(fmt::format("{}: unknown key{}", where, suggestion(key.str())));
      if (s->option->count() > 0) continue;  // the command line wins
      s->read(value, where);
      o_.from_file[s->key] = fmt::format("{}: {}", file, s->key);
    }
  }

  // Throws CommandError for a required setting neither the command line nor the file gave.
  void check_required() const {
    for (const Setting& s : settings_) {
      if (s.required && s.show().empty()) {
        throw CommandError(fmt::format("{} is required (or `{}` in the --config file)",
                                       s.option->get_name(), s.key));
      }
    }
  }

  // The effective settings as a config file: every key with its help as a comment; a string
  // that is not set is commented out.
  std::string to_toml() const {
    std::string out =
        "# `ipsx node` settings (docs/node.md): use with `ipsx node --config FILE`; an option on\n"
        "# the command line overrides the file's key of the same name.\n";
    for (const Setting& s : settings_) {
      out += "\n" + comment(s.help + (s.required ? " (required)" : ""));
      std::string value = s.show();
      out += value.empty() ? fmt::format("# {} = \"\"\n", s.key)
                           : fmt::format("{} = {}\n", s.key, value);
    }
    return out;
  }

 private:
  enum class Kind { text, path, integer, number };
  struct Setting {
    std::string key;
    std::string help;
    Kind kind;
    bool required;
    CLI::Option* option;
    std::function<void(const toml::node&, const std::string& where)> read;
    std::function<std::string()> show;  // the value as TOML, "" for an unset string
  };

  template <class T, class Read>
  CLI::Option* add(const std::string& key, const std::string& help, Kind kind, bool required,
                   T& field, Read read) {
    std::string option = "--" + key;
    std::replace(option.begin(), option.end(), '_', '-');
    CLI::Option* opt = cmd_->add_option(option, field, help);
    settings_.push_back(
        {key, help, kind, required, opt, read, [&field, kind] { return show_value(field, kind); }});
    return opt;
  }

  static std::string string_of(const toml::node& n, const std::string& where) {
    auto v = n.value_exact<std::string>();
    if (!v) throw CommandError(fmt::format("{}: want a string, not {}", where, toml_type_name(n)));
    return *v;
  }

  template <class T>
  static std::string show_value(const T& v, Kind kind) {
    if constexpr (std::is_same_v<T, std::string>) {
      if (v.empty()) return "";
      return quoted(kind == Kind::path ? std::filesystem::absolute(v).lexically_normal().string()
                                       : v);
    } else if constexpr (std::is_floating_point_v<T>) {
      std::string s = fmt::format("{}", v);
      return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
    } else {
      return fmt::format("{}", v);
    }
  }

  // A TOML basic string: "..." with backslash, quote and control characters escaped.
  static std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
      } else {
        out += c;
      }
    }
    return out + '"';
  }

  // `text` as comment lines of at most about 100 columns.
  static std::string comment(std::string_view text) {
    std::string out, line = "#";
    size_t at = 0;
    while (at < text.size()) {
      size_t end = text.find(' ', at);
      if (end == std::string_view::npos) end = text.size();
      std::string_view word = text.substr(at, end - at);
      if (line.size() > 1 && line.size() + 1 + word.size() > 98) {
        out += line + "\n";
        line = "#";
      }
      line += " ";
      line += word;
      at = end + 1;
    }
    return out + line + "\n";
  }

  const Setting* find(std::string_view key) const {
    for (const Setting& s : settings_) {
      if (s.key == key) return &s;
    }
    return nullptr;
  }

  std::string suggestion(std::string_view key) const {
    const Setting* best = nullptr;
    size_t best_distance = 3;  // farther is no typo
    for (const Setting& s : settings_) {
      size_t d = edit_distance(key, s.key);
      if (d < best_distance) best = &s, best_distance = d;
    }
    if (best) return fmt::format(" (did you mean '{}'?)", best->key);
    std::vector<std::string> keys;
    for (const Setting& s : settings_) keys.push_back(s.key);
    return fmt::format(" (the keys are {})", fmt::join(keys, ", "));
  }

  CLI::App* cmd_;
  NodeOptions& o_;
  std::string file_;
  std::vector<Setting> settings_;
};

// HOST:PORT (IPv6 in brackets); `where` names the setting in errors.
std::pair<std::string, uint16_t> split_listen(const std::string& text, const std::string& where) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw CommandError(where + ": want HOST:PORT, e.g. 127.0.0.1:8080");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw CommandError(where + ": bad port in '" + text + "'");
  }
  if (port > 65535) throw CommandError(where + ": port over 65535");
  return {host, static_cast<uint16_t>(port)};
}

// The deployment a data directory's market journal belongs to (written on its first start with
// --ledger ethereum): replaying a journal against another chain or contracts would open deals
// that were never matched there.
constexpr const char* kDeploymentMark = "ethereum-deployment.toml";

void claim_data_dir(const std::string& data, const eth::EthereumLedger& l) {
  namespace fs = std::filesystem;
  const fs::path dir(data);
  if (fs::exists(dir / "ledger.db")) {
    throw CommandError(fmt::format(
        "--data {} holds an embedded ledger (ledger.db); give --ledger ethereum a directory of its "
        "own for the market journal",
        data));
  }
  eth::DeploymentFile mine;
  mine.deployment = l.deployment();
  const fs::path mark = dir / kDeploymentMark;
  if (fs::exists(mark)) {
    auto theirs = unwrap(eth::DeploymentFile::load(mark), "--data");
    const eth::Deployment& d = theirs.deployment;
    if (d.chain_id != mine.deployment.chain_id || d.token != mine.deployment.token ||
        d.centralizer != mine.deployment.centralizer) {
      throw CommandError(fmt::format(
          "--data {}: its market journal belongs to the deployment on chain {} (centralizer {}), "
          "not to chain {} (centralizer {}); use another --data directory",
          data, d.chain_id, d.centralizer.to_string(), mine.deployment.chain_id,
          mine.deployment.centralizer.to_string()));
    }
    return;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream out(mark, std::ios::trunc);
  out << mine.to_toml("The deployment whose ledger this directory's market journal is on");
  if (!out.flush()) throw CommandError(fmt::format("--data: cannot write {}", mark.string()));
}

std::unique_ptr<OpenMarket> open_market(const NodeOptions& o, const std::string& journal_dir) {
  if (o.ledger == "embedded") {
    if (!o.eth.rpc.empty() || !o.eth.deployment.empty())
      throw CommandError("--rpc and --deployment are for --ledger ethereum");
    if (o.eth.confirmations != 0) {
      throw CommandError(
          fmt::format("{} is for --ledger ethereum (the embedded ledger's blocks are final)",
                      o.where("confirmations")));
    }
    return std::make_unique<OpenMarket>(o.data, journal_dir, o.keystore, o.address, o.password_file,
                                        o.fee_bps);
  }
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  auto l = open_ethereum_ledger(o.eth);
  claim_data_dir(o.data, *l);
  // The keeper's memory across restarts: what this node acknowledged and may have to send again.
  const std::string kept = (std::filesystem::path(o.data) / "eth-acknowledged.jsonl").string();
  size_t watched = unwrap(l->keep_in(kept), "--data");
  // The operator's own transactions (every openDeal) are replaced with higher fees when stuck.
  l->replace_stuck_with(key.clone());
  if (watched > 0) {
    logs::info(fmt::format(
        "ledger: watching {} transaction(s) acknowledged before the restart ({})", watched, kept));
  }
  if (auto native = l->native_balance(key.address()); native && native->is_zero()) {
    logs::warning(
        fmt::format("the market operator {} holds no native coin on chain {}; it sends (and pays "
                    "the gas of) every openDeal",
                    key.address().to_string(), l->chain_id()));
  }
  return std::make_unique<OpenMarket>(std::move(l), std::move(key), journal_dir, o.fee_bps);
}

std::set<std::string> parse_offer_checks(const NodeOptions& o) {
  std::set<std::string> out;
  if (o.offer_checks == "none") return out;
  size_t start = 0;
  while (start <= o.offer_checks.size()) {
    size_t comma = std::min(o.offer_checks.find(',', start), o.offer_checks.size());
    std::string name = o.offer_checks.substr(start, comma - start);
    if (name != "location" && name != "ownership" && name != "exit") {
      throw CommandError(fmt::format("{}: '{}': want location, ownership, exit (or none)",
                                     o.where("offer_checks"), name));
    }
    out.insert(name);
    start = comma + 1;
  }
  return out;
}

// The geo data for the location check: the ip-location-db packages and the static table.
geo::GeoDatabase open_geo(const NodeOptions& o) {
  namespace fs = std::filesystem;
  fs::path dir = o.geo_data;
  if (dir.empty() && fs::exists(share_dir() / "ip-location-db"))
    dir = share_dir() / "ip-location-db";
  if (dir.empty() && o.geo_static.empty()) {
    throw CommandError(fmt::format(
        "--offer-checks location needs the geo data: --geo-data DIR (the @ip-location-db "
        "packages; installed with the program in {}) and/or --geo-static FILE (docs/geo.md)",
        (share_dir() / "ip-location-db").string()));
  }
  geo::GeoPaths paths;
  if (!dir.empty()) {
    paths.country_mmdb = dir / "geo-whois-asn-country-mmdb" / "geo-whois-asn-country.mmdb";
    paths.asn_v4_csv = dir / "asn" / "asn-ipv4.csv";
    paths.asn_v6_csv = dir / "asn" / "asn-ipv6.csv";
  }
  paths.static_table = o.geo_static;
  return unwrap(geo::GeoDatabase::open(paths), o.where("geo_data") + " / " + o.where("geo_static"));
}

void run_node(const NodeOptions& o) {
  logs::set_program("ipsx node");
  auto [host, port] = split_listen(o.listen, o.where("listen"));
  const std::string journal_dir = o.journal.empty() ? o.data + "/market" : o.journal;
  std::unique_ptr<OpenMarket> opened = open_market(o, journal_dir);
  OpenMarket& m = *opened;
  auto& market = m.market;
  auto& ledger = m.ledger;

  api::EventStream events;
  api::NodeContext node{*market, *ledger, api::openapi_yaml(), &events};
  node.exits_file = journal_dir + "/exits.log";  // announcements survive a restart
  // Health and the ledger routes follow the ledger's state (a chain gone, reset or replaced)
  // from a check every two seconds, never waiting on the chain themselves.
  api::LedgerWatch watch(*ledger);
  node.watch = &watch;
  node.version = IPSX_VERSION;
  // The access log, at --log-level debug: who asked what, the answer's status and time.
  if (logs::enabled(logs::Level::debug)) {
    node.access_log = [](const api::HttpRequest& req, const std::string&,
                         const api::HttpResponse& res, std::chrono::nanoseconds took) {
      logs::debug(fmt::format("{} {} {} {} {:.2f} ms", req.remote.empty() ? "-" : req.remote,
                              req.method, req.target, res.status,
                              std::chrono::duration<double, std::milli>(took).count()),
                  {{"remote", req.remote}, {"status", std::to_string(res.status)}});
    };
  }
  if (auto* eth = dynamic_cast<eth::EthereumLedger*>(ledger.get())) {
    node.ledger_metrics = [eth] {
      auto k = eth->keeper_stats();
      using api::Metrics;
      return Metrics::family("ipsx_eth_acknowledged_watched", "gauge",
                             "Acknowledged transactions not yet deep enough to forget.",
                             Metrics::single(static_cast<double>(k.watched))) +
             Metrics::family("ipsx_eth_resent_total", "counter",
                             "Acknowledged transactions the chain lost and the node sent again.",
                             Metrics::single(static_cast<double>(k.resent))) +
             Metrics::family("ipsx_eth_lost_total", "counter",
                             "Acknowledged transactions lost for good (nonce taken, or reverted "
                             "when mined again).",
                             Metrics::single(static_cast<double>(k.lost))) +
             Metrics::family("ipsx_eth_reorgs_total", "counter",
                             "Reorganisations seen under the transaction index.",
                             Metrics::single(static_cast<double>(k.reorgs))) +
             Metrics::family("ipsx_eth_replaced_total", "counter",
                             "The operator's stuck transactions mined as a replacement with "
                             "higher fees.",
                             Metrics::single(static_cast<double>(k.replaced))) +
             Metrics::family("ipsx_eth_fill_batches_total", "counter",
                             "Batches of the market's openDeals sent as one transaction.",
                             Metrics::single(static_cast<double>(k.batches))) +
             Metrics::family("ipsx_eth_batched_fills_total", "counter",
                             "The market's openDeals sent in a batch.",
                             Metrics::single(static_cast<double>(k.batched))) +
             Metrics::family("ipsx_eth_fill_batches_refused_total", "counter",
                             "Batches the ledger refused, their openDeals then sent alone.",
                             Metrics::single(static_cast<double>(k.batches_refused)));
    };
  }
  if (const auto* eth = dynamic_cast<const eth::EthereumLedger*>(ledger.get()))
    node.token_contract = eth->deployment().token;

  const std::set<std::string> checks = parse_offer_checks(o);
  std::optional<geo::GeoDatabase> geo_db;
  if (checks.contains("location")) {
    geo_db.emplace(open_geo(o));
    node.checks.location = &*geo_db;
  }
  SystemClock clock;
  std::optional<api::IpProofs> proofs;
  std::optional<api::ProbeServer> probes;
  node.checks.exit = checks.contains("exit");
  if (checks.contains("ownership")) {
    proofs.emplace(api::ProbeOptions{}, clock);
    probes.emplace(*proofs);
    auto [probe_host, probe_port] = o.probe_listen.empty()
                                        ? std::pair{host, uint16_t{0}}
                                        : split_listen(o.probe_listen, o.where("probe_listen"));
    node.checks.ownership = &*proofs;
    std::string bound_probe =
        unwrap(probes->start(probe_host, probe_port), o.where("probe_listen"));
    node.checks.probe_endpoint = o.probe_endpoint.empty() ? bound_probe : o.probe_endpoint;
    if (o.probe_endpoint.empty() &&
        (bound_probe.starts_with("0.0.0.0:") || bound_probe.starts_with("[::]:"))) {
      throw CommandError(fmt::format(
          "{}: the probe listener is on every address ({}); set {} to the HOST:PORT providers "
          "reach it at",
          o.where("probe_listen"), bound_probe, o.where("probe_endpoint")));
    }
  }
  api::Router router;
  api::add_node_routes(router, node, o.limits);
  api::ServerOptions so;
  so.body_limit = o.max_body;
  so.read_timeout = std::chrono::milliseconds(o.read_timeout_ms);
  so.max_connections = o.max_connections;
  so.max_connections_per_address = o.max_connections_per_address;
  so.tls_certificate_file = o.tls_cert;
  so.tls_key_file = o.tls_key;
  so.cors_origins = parse_cors_origins(o.cors_origins, o.where("cors_origins"));
  so.on_tick = [&node] { api::tick(node, true); };
  so.events = &events;
  api::HttpServer server(router, so);
  // Deals open in the background: an order's answer waits for its fills' blocks, the server's
  // thread serves everyone else meanwhile (docs/api.md, "Placing orders").
  node.post = server.poster();  // outlives the server: the ledger may answer after it is gone
  market->open_deals_in_background(
      node.post, [&node](std::vector<Hash> deals) { api::publish_opened(node, deals); });
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    throw CommandError(fmt::format("{} and {} go together: https needs the certificate and its key",
                                   o.where("tls_cert"), o.where("tls_key")));
  }
  std::string bound = unwrap(
      server.listen(host, port),
      o.tls_cert.empty() ? o.where("listen") : o.where("tls_cert") + ", " + o.where("tls_key"));
  std::string on;
  if (const auto* eth = dynamic_cast<const eth::EthereumLedger*>(ledger.get())) {
    on = fmt::format(" on the Ethereum ledger (chain {}, centralizer {})", eth->chain_id(),
                     eth->deployment().centralizer.to_string());
  }
  logs::info(fmt::format("market {}{} listening on {}://{}", market->address().to_string(), on,
                         o.tls_cert.empty() ? "http" : "https", bound));
  if (geo_db) {
    logs::info(fmt::format(
        "offers' locations checked against {}{}",
        geo_db->country_database_path().empty() ? "" : geo_db->country_database_path() + ", ",
        o.geo_static.empty() ? "the ASN data"
                             : "the ASN data and the static table " + o.geo_static));
  }
  if (probes) logs::info("IP-ownership probes on " + node.checks.probe_endpoint);
  if (checks.empty()) logs::warning("offers are not checked (offer checks: none)");
  notify_service("READY=1");
  server.run();
  notify_service("STOPPING=1");
  logs::info("shutting down");
}

}  // namespace

void add_node_command(CLI::App& app) {
  auto o = std::make_shared<NodeOptions>();
  CLI::App* cmd =
      app.add_subcommand("node", "Serve the market and the ledger over the HTTP API (docs/api.md)");
  cmd->add_option("--config", o->config,
                  "A TOML file of these settings, keyed by option name (read_timeout_ms for "
                  "--read-timeout-ms); options given here override it (docs/node.md)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--print-config", o->print_config,
                "Print the effective settings (defaults, the --config file, these options) as a "
                "config file, and exit");
  auto s = std::make_shared<NodeSettings>(cmd, *o);
  s->path("data", o->data,
          "Data directory: the embedded ledger (from `ipsx ledger init`) and the market journal; "
          "with --ledger ethereum the market journal only",
          true);
  s->path("journal", o->journal, "Market journal directory (default DATA/market)");
  s->choice("ledger", o->ledger, "embedded (default) or ethereum (docs/eth.md)",
            {"embedded", "ethereum"});
  s->path("deployment", o->eth.deployment,
          "With --ledger ethereum: the file `ipsx eth deploy --out` wrote (chain id, contract "
          "addresses, RPC URL)");
  s->text("rpc", o->eth.rpc,
          "With --ledger ethereum: the node's JSON-RPC URL (default: the deployment file's rpc)");
  o->eth.contracts = (share_dir() / "contracts").string();
  s->path("contracts", o->eth.contracts,
          "With --ledger ethereum: the build's contract JSON (for ledger-errors.json)")
      ->capture_default_str();
  s->integer("confirmations", o->eth.confirmations,
             "With --ledger ethereum: blocks on top of a transaction's before the node answers for "
             "it, so a deal counts as open only that deep (default 0: once included)",
             int64_t{0}, int64_t{64});
  s->integer("rpc_timeout", o->eth.timeout_s,
             "With --ledger ethereum: seconds to wait for each RPC answer and receipt (default 30)",
             int64_t{1}, int64_t{3600});
  s->text("listen", o->listen,
          "HOST:PORT to serve on (default 127.0.0.1:8080, where the client commands look; port 0: "
          "any free port)");
  s->path("tls_cert", o->tls_cert,
          "Serve https: a PEM certificate chain, the node's certificate first (with --tls-key)");
  s->path("tls_key", o->tls_key, "Serve https: the PEM private key of --tls-cert's certificate");
  s->text("cors_origins", o->cors_origins,
          "Origins whose pages may call the API from a browser (CORS), comma-separated "
          "scheme://host[:port], or * for any (default: none)");
  s->path("keystore", o->keystore, "Keystore of the market operator's wallet", true);
  s->text("address", o->address,
          "The market operator's address (needed when the keystore is a directory)");
  s->path("password_file", o->password_file, "File whose first line is the keystore's password",
          true);
  s->integer("fee_bps", o->fee_bps, "Commission every order must name, in basis points (default 0)",
             uint16_t{0}, kMaxFeeBps);
  s->integer("max_body", o->max_body, "Largest request body in bytes (default 262144)",
             size_t{1024}, size_t{64} << 20);
  s->integer("read_timeout_ms", o->read_timeout_ms,
             "Deadline for a whole request to arrive; slower clients are disconnected (default "
             "10000)",
             uint64_t{1}, uint64_t{3'600'000});
  s->integer("max_connections", o->max_connections,
             "Open connections at most, in all (default 16384; fewer if the descriptor limit "
             "allows fewer); those over it are closed at once",
             size_t{1}, size_t{1'000'000});
  s->integer("max_connections_per_address", o->max_connections_per_address,
             "Open connections at most from one client address (default 256): one address cannot "
             "take the connections everyone else needs",
             size_t{1}, size_t{1'000'000});
  s->number("rate_limit", o->limits.per_ip.rate,
            "Requests per second per client IP (default 50; 0: no limit)", 0, 1e9);
  s->number("rate_burst", o->limits.per_ip.burst, "Burst per client IP (default 100)", 1, 1e9);
  s->number("order_rate_limit", o->limits.per_address.rate,
            "Signed orders, cancels and status events per second per wallet (default 5; 0: no "
            "limit)",
            0, 1e9);
  s->number("order_rate_burst", o->limits.per_address.burst,
            "Burst of signed changes per wallet (default 20)", 1, 1e9);
  s->text("offer_checks", o->offer_checks,
          "What the node checks of an offer: its IP's location, that the provider owns the IP, "
          "that its exit is announced; a comma list (default location,ownership,exit) or none "
          "(docs/api.md, \"Offer checks\")");
  s->text("probe_listen", o->probe_listen,
          "HOST:PORT of the IP-ownership probe listener (default: --listen's host, any port)");
  s->text("probe_endpoint", o->probe_endpoint,
          "HOST:PORT providers are told to connect to for probes (default: where the listener "
          "is bound; needed when it binds every address)");
  s->path("geo_data", o->geo_data,
          "The @ip-location-db directory: country .mmdb and ASN CSVs (default: the one installed "
          "with the program, share/ipsx/ip-location-db)");
  s->path("geo_static", o->geo_static,
          "The operator's static table of ranges (docs/geo.md), consulted before the public data");
  cmd->callback([o, s] {
    if (!o->config.empty()) s->load(o->config);
    if (o->print_config) {
      std::cout << s->to_toml() << std::flush;
      return;
    }
    s->check_required();
    if (!std::filesystem::is_regular_file(o->password_file))
      throw CommandError(
          fmt::format("{}: no file {}", o->where("password_file"), o->password_file));
    run_node(*o);
  });
}

}  // namespace ipsx::cli
