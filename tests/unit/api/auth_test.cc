#include "plinth/api/auth.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::api {
namespace {

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

TEST(AuthTest, AnonymousAcceptsEveryone) {
  auto auth = Authenticator::Anonymous();
  EXPECT_FALSE(auth->enabled());
  EXPECT_EQ(*auth->Authenticate({}), "anonymous");
}

TEST(AuthTest, TokensMapToActors) {
  auto auth = Authenticator::FromText(
      "# operators\nalice-token-0123456789 alice\n\n  bob-token-0123456789abc\tbob  \n", "tokens");
  ASSERT_TRUE(auth.ok()) << auth.status();
  std::string alice = "Bearer alice-token-0123456789";
  std::string bob = "bearer bob-token-0123456789abc";
  std::string wrong = "Bearer alice-token-0123456780";
  std::string basic = "Basic xyz";
  EXPECT_EQ(*(*auth)->Authenticate(Metadata{{"authorization", alice}}), "alice");
  EXPECT_EQ(*(*auth)->Authenticate(Metadata{{"authorization", bob}}), "bob");
  for (const Metadata& m : {Metadata{}, Metadata{{"authorization", wrong}},
                            Metadata{{"authorization", basic}}}) {
    auto r = (*auth)->Authenticate(m);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(r.status().message().find("alice-token"), std::string::npos);
  }
}

TEST(AuthTest, PermissionsBelongToActors) {
  auto auth = Authenticator::FromText("aaaaaaaaaaaaaaaa alice reveal-sensitive\nbbbbbbbbbbbbbbbb bob\n", "tokens");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Allows("alice", kRevealSensitivePermission));
  EXPECT_FALSE((*auth)->Allows("bob", kRevealSensitivePermission));
  EXPECT_FALSE((*auth)->Allows("mallory", kRevealSensitivePermission));
  EXPECT_TRUE(Authenticator::Anonymous()->Allows("anonymous", kRevealSensitivePermission));

  auto unknown = Authenticator::FromText("aaaaaaaaaaaaaaaa alice reveal-everything\n", "tokens");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), ::testing::HasSubstr("line 1: unknown permission \"reveal-everything\""));
}

TEST(AuthTest, MalformedFilesAreRejected) {
  EXPECT_EQ(Authenticator::FromText("only-one-field-here-long\n", "f").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Authenticator::FromText("short actor\n", "f").status().message(),
              ::testing::HasSubstr("line 1: token shorter than 16"));
  EXPECT_EQ(Authenticator::FromText("# nothing\n", "f").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Authenticator::FromFile("/nonexistent/tokens").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace plinth::api
