#include "eth/deployment_file.h"

#include <gtest/gtest.h>

#include <string>

namespace ipsx::eth {
namespace {

const char* kGood = R"(# IPSX contracts
rpc = "http://127.0.0.1:8545"
chain_id = 1337
token = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
centralizer = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
block = 1
)";

std::string without(const std::string& key) {
  std::string text = kGood, out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos + 1);
    if (line.rfind(key + " =", 0) != 0) out += line;
    pos = end + 1;
  }
  return out;
}

std::string error_of(const std::string& text) {
  auto f = DeploymentFile::parse(text);
  return f ? "" : f.error().message();
}

TEST(DeploymentFile, ReadsWhatDeployWrites) {
  auto f = DeploymentFile::parse(kGood);
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->rpc, "http://127.0.0.1:8545");
  EXPECT_EQ(f->deployment.chain_id, 1337u);
  EXPECT_EQ(f->deployment.token.to_string(), "0x5FbDB2315678afecb367f032d93F642f64180aa3");
  EXPECT_EQ(f->deployment.centralizer.to_string(), "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
  EXPECT_EQ(f->deployment.block, 1u);
  auto again = DeploymentFile::parse(f->to_toml("a comment"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->rpc, f->rpc);
  EXPECT_EQ(again->deployment.token, f->deployment.token);
  EXPECT_EQ(again->deployment.centralizer, f->deployment.centralizer);
  EXPECT_EQ(again->to_toml(), f->to_toml());
}

TEST(DeploymentFile, RpcIsOptional) {
  auto f = DeploymentFile::parse(without("rpc"));
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->rpc, "");
  EXPECT_EQ(f->to_toml().find("rpc"), std::string::npos);
}

TEST(DeploymentFile, RefusalsNameTheKey) {
  EXPECT_NE(error_of(without("centralizer")).find("centralizer is missing"), std::string::npos);
  EXPECT_NE(error_of(without("token")).find("token is missing"), std::string::npos);
  EXPECT_NE(error_of(without("chain_id")).find("chain_id is missing"), std::string::npos);
  EXPECT_NE(error_of(without("block")).find("block is missing"), std::string::npos);
  EXPECT_NE(error_of(without("token") + "token = \"0x1234\"\n").find("token: "), std::string::npos);
  EXPECT_NE(error_of(without("token") + "token = 5\n").find("token must be a string"),
            std::string::npos);
  EXPECT_NE(error_of(without("token") + "token = \"0x0000000000000000000000000000000000000000\"\n")
                .find("token is the zero address"),
            std::string::npos);
  EXPECT_NE(error_of(without("chain_id") + "chain_id = \"1337\"\n")
                .find("chain_id must be a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error_of(without("chain_id") + "chain_id = 0\n").find("chain_id must be positive"),
            std::string::npos);
  EXPECT_NE(error_of(without("block") + "block = -1\n").find("block must be"), std::string::npos);
  EXPECT_NE(error_of(without("rpc") + "rpc = 8545\n").find("rpc must be a string"),
            std::string::npos);
  EXPECT_NE(error_of("chain_id = = 3\n").find("not valid TOML"), std::string::npos);
  EXPECT_NE(error_of("chain_id = = 3\n").find("line 1"), std::string::npos);
}

TEST(DeploymentFile, LoadNamesThePath) {
  auto f = DeploymentFile::load("/nonexistent/deployment.toml");
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message().find("/nonexistent/deployment.toml"), std::string::npos);
}

}  // namespace
}  // namespace ipsx::eth
