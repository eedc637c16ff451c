#include "plinth/api/paging.h"

#include "gtest/gtest.h"
#include "plinth/v1/infra_pipeline.pb.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;

TEST(PagingTest, APipelineTokenIsRefusedForAnotherProject) {
  pb::ListInfraPipelinesRequest web;
  web.set_project_id("proj-web");
  pb::ListInfraPipelinesRequest db;
  db.set_project_id("proj-db");
  std::string token = PageQuery("ListInfraPipelines", web).Token("42");
  ASSERT_FALSE(token.empty());
  EXPECT_NE(token.find("p1."), std::string::npos);
  EXPECT_EQ(*PageQuery("ListInfraPipelines", web).Cursor(token), "42");
  auto other = PageQuery("ListInfraPipelines", db).Cursor(token);
  ASSERT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(other.status().message().substr(0, 11), "page_token:");
  // A bare number, as tokens were before, is no token.
  EXPECT_EQ(PageQuery("ListInfraPipelines", web).Cursor("42").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PagingTest, PageSizeAndTokenAreNotPartOfTheQuery) {
  pb::ListInfraPipelinesRequest a;
  a.set_project_id("p");
  a.set_page_size(5);
  pb::ListInfraPipelinesRequest b = a;
  b.set_page_size(50);
  b.set_page_token("whatever");
  EXPECT_EQ(*PageQuery("ListInfraPipelines", b).Cursor(PageQuery("ListInfraPipelines", a).Token("x")), "x");
  EXPECT_EQ(PageQuery("ListInfraPipelines", a).Token(""), "");
  EXPECT_EQ(*PageQuery("ListInfraPipelines", a).Cursor(""), "");
}

TEST(PagingTest, InMemoryPagesFollowKeysNotPositions) {
  std::vector<std::string> items = {"c", "a", "e", "b", "d"};
  auto key = [](const std::string& s) { return s; };
  std::string next;
  auto first = PageOf(items, key, "", 2, &next);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(*first[0], "a");
  EXPECT_EQ(*first[1], "b");
  EXPECT_EQ(next, "b");
  // An item inserted before the cursor does not shift the next page.
  items.push_back("aa");
  auto second = PageOf(items, key, next, 2, &next);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(*second[0], "c");
  auto last = PageOf(items, key, next, 2, &next);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(*last[0], "e");
  EXPECT_EQ(next, "");
  EXPECT_FALSE(PageSizeOf(-1, 10).ok());
  EXPECT_EQ(*PageSizeOf(0, 10), 10);
  EXPECT_EQ(*PageSizeOf(5000, 10), kMaxPageSize);
}

}  // namespace
}  // namespace plinth::api
