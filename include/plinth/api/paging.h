// One pagination for every List call: `page_size` (0: the call's default;
// at most 1000; negative is INVALID_ARGUMENT), `page_token` from the previous
// response's `next_page_token`, "" when there is no next page.
//
// A token is opaque to clients: "p1." then base64url of the query's
// fingerprint (the method and the request without its page fields, so every
// filter that shapes the result) and the
// position to go on from (the store's own cursor, or the key of the last
// item sent). A token given with another query (another project, another
// state filter, another method) is INVALID_ARGUMENT "page_token: ...", never
// a page of something else.
//
//   PageQuery query("ListInfraPipelines", *req);
//   PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
//   ... page = store->List(project_id, size, cursor);
//   resp->set_next_page_token(query.Token(page.next_page_token));
#ifndef PLINTH_API_PAGING_H_
#define PLINTH_API_PAGING_H_

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace plinth::api {

inline constexpr int kMaxPageSize = 1000;

class PageQuery {
 public:
  // `request` with its page_size and page_token cleared is the query.
  PageQuery(absl::string_view method, const google::protobuf::Message& request);

  // The position of `token`: "" for "" (the first page).
  absl::StatusOr<std::string> Cursor(absl::string_view token) const;
  // The token that goes on from `cursor`; "" for "" (no next page).
  std::string Token(absl::string_view cursor) const;

 private:
  std::string fingerprint_;
};

// `requested`, or `default_size` for 0; INVALID_ARGUMENT for a negative one;
// at most kMaxPageSize.
absl::StatusOr<int> PageSizeOf(int requested, int default_size);

// One page of an in-memory list: the items whose key sorts after `cursor`,
// in key order, at most `size`; `next` is the key of the last one when more
// follow, else "". Keys must be unique. The page points into `items`, which
// must outlive it (never a temporary).
template <typename T, typename KeyFn>
std::vector<const T*> PageOf(const std::vector<T>& items, KeyFn key_of, const std::string& cursor, int size,
                             std::string* next) {
  std::vector<std::pair<std::string, const T*>> keyed;
  keyed.reserve(items.size());
  for (const T& item : items) {
    std::string key = key_of(item);
    if (cursor.empty() || key > cursor) keyed.emplace_back(std::move(key), &item);
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const T*> out;
  next->clear();
  for (size_t i = 0; i < keyed.size() && static_cast<int>(i) < size; ++i) out.push_back(keyed[i].second);
  if (static_cast<int>(keyed.size()) > size && size > 0) *next = keyed[size - 1].first;
  return out;
}
template <typename T, typename KeyFn>
std::vector<const T*> PageOf(const std::vector<T>&& items, KeyFn, const std::string&, int, std::string*) = delete;

}  // namespace plinth::api

#endif  // PLINTH_API_PAGING_H_
