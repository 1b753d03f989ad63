#include "eth/deployment_file.h"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <fstream>
#include <sstream>

namespace ipsx::eth {
namespace {

std::unexpected<Error> bad(std::string msg) {
  return fail(CoreErrc::parse_error, std::move(msg));
}

}  // namespace

Result<DeploymentFile> DeploymentFile::parse(std::string_view text) {
  toml::table t;
  try {
    t = toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "not valid TOML: " << e.description() << " at line " << e.source().begin.line;
    return bad(msg.str());
  }
  DeploymentFile f;
  if (auto n = t["rpc"]; n) {
    auto v = n.value<std::string>();
    if (!v) return bad("rpc must be a string (the node's JSON-RPC URL)");
    f.rpc = *v;
  }
  auto integer = [&](const char* key, uint64_t& out) -> Result<void> {
    auto n = t[key];
    if (!n) return bad(fmt::format("{} is missing", key));
    auto v = n.value_exact<int64_t>();
    if (!v || *v < 0) return bad(fmt::format("{} must be a non-negative integer", key));
    out = static_cast<uint64_t>(*v);
    return {};
  };
  auto address = [&](const char* key, Address& out) -> Result<void> {
    auto n = t[key];
    if (!n) return bad(fmt::format("{} is missing (the contract's address)", key));
    auto v = n.value_exact<std::string>();
    if (!v) return bad(fmt::format("{} must be a string \"0x...\"", key));
    auto a = Address::parse(*v);
    if (!a) return bad(fmt::format("{}: {}", key, a.error().message()));
    if (a->is_zero()) return bad(fmt::format("{} is the zero address", key));
    out = *a;
    return {};
  };
  if (auto r = integer("chain_id", f.deployment.chain_id); !r) return std::unexpected(r.error());
  if (f.deployment.chain_id == 0) return bad("chain_id must be positive");
  if (auto r = address("token", f.deployment.token); !r) return std::unexpected(r.error());
  if (auto r = address("centralizer", f.deployment.centralizer); !r)
    return std::unexpected(r.error());
  if (f.deployment.token == f.deployment.centralizer)
    return bad("token and centralizer are the same address");
  if (auto r = integer("block", f.deployment.block); !r) return std::unexpected(r.error());
  return f;
}

Result<DeploymentFile> DeploymentFile::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(CoreErrc::io_error, fmt::format("{}: cannot read", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  auto f = parse(s.str());
  if (!f) return std::unexpected(f.error().with_context(path.string()));
  return f;
}

std::string DeploymentFile::to_toml(std::string_view comment) const {
  std::string out;
  if (!comment.empty()) out += fmt::format("# {}\n", comment);
  if (!rpc.empty()) out += fmt::format("rpc = \"{}\"\n", rpc);
  out += fmt::format("chain_id = {}\ntoken = \"{}\"\ncentralizer = \"{}\"\nblock = {}\n",
                     deployment.chain_id, deployment.token.to_string(),
                     deployment.centralizer.to_string(), deployment.block);
  return out;
}

}  // namespace ipsx::eth
