#include "plinth/core/secret_box.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace plinth::core {
namespace {

TEST(SecretBoxTest, DerivedSecretsAreStablePerKeyAndPurpose) {
  testing::TempDir dir;
  auto a = SecretBox::FromKeyFile(dir.path() + "/a.key");
  auto b = SecretBox::FromKeyFile(dir.path() + "/b.key");
  ASSERT_TRUE(a.ok() && b.ok());
  std::string pulumi = (*a)->Derive("pulumi");
  EXPECT_EQ(pulumi.size(), 64u);
  EXPECT_EQ((*a)->Derive("pulumi"), pulumi);
  EXPECT_NE((*a)->Derive("other"), pulumi);
  EXPECT_NE((*b)->Derive("pulumi"), pulumi);
  auto again = SecretBox::FromKeyFile(dir.path() + "/a.key");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Derive("pulumi"), pulumi) << "the same after a restart";
}

TEST(SecretBoxTest, SealsOpensAndKeepsTheKeyAcrossRestarts) {
  testing::TempDir dir;
  std::string key = dir.path() + "/secret.key";
  std::string sealed;
  {
    auto box = SecretBox::FromKeyFile(key);
    ASSERT_TRUE(box.ok()) << box.status();
    sealed = (*box)->Seal("s3cr3t value");
    EXPECT_EQ(sealed.find("s3cr3t"), std::string::npos);
    EXPECT_NE((*box)->Seal("s3cr3t value"), sealed) << "fresh nonce every time";
  }
  struct stat st;
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto again = SecretBox::FromKeyFile(key);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Open(sealed), "s3cr3t value");
  std::string tampered = sealed;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ((*again)->Open(tampered).status().code(), absl::StatusCode::kDataLoss);
  ::chmod(key.c_str(), 0644);
  EXPECT_EQ(SecretBox::FromKeyFile(key).status().code(), absl::StatusCode::kFailedPrecondition);
}

// RFC 4231 test cases 1, 2 and 6 (a key longer than the block size).
TEST(HmacSha256Test, MatchesRfc4231) {
  EXPECT_EQ(HmacSha256Hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HmacSha256Hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("xbc", "abc"));
  EXPECT_EQ(RandomHex(16).size(), 32u);
  EXPECT_NE(RandomHex(16), RandomHex(16));
}

}  // namespace
}  // namespace plinth::core
