// One thread polls every connection; requests are parsed incrementally and
// bounded in size and time (see http_server.h). HTTP/1.1 as RFC 9112 has
// it, the parts a health checker, Prometheus and a Git host use: keep-alive,
// Content-Length and chunked bodies, Expect: 100-continue.
#include "plinth/server/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "plinth/core/logging.h"
#include "plinth/core/thread_pool.h"

namespace plinth::server {
namespace {

using Clock = std::chrono::steady_clock;

// After an error answer the rest of what the client sends is read and
// dropped for a while (so that it sees the answer rather than a reset),
// at most this much.
constexpr size_t kMaxLingerBytes = 16 << 20;

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 412: return "Precondition Failed";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 504: return "Gateway Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

struct Request {
  std::string method, target, path;
  bool http10 = false;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct Conn {
  enum class State {
    kHeaders, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kHandling, kWriting, kLinger, kStreaming
  };
  int fd = -1;
  uint64_t id = 0;
  State state = State::kHeaders;
  std::string in;
  std::string out;
  size_t out_pos = 0;
  Request req;
  uint64_t body_left = 0;
  size_t trailer_bytes = 0;
  size_t lingered = 0;  // bytes dropped after a refusal
  bool close_after = false;
  Clock::time_point deadline;
  Clock::time_point started;  // of the request being read, for eviction
  std::shared_ptr<HttpStream> stream;  // while kStreaming

  bool Reading() const {
    return state == State::kHeaders || state == State::kBody || state == State::kChunkSize ||
           state == State::kChunkData || state == State::kChunkEnd || state == State::kTrailers;
  }
};

// A streamed answer's producer thread.
struct Producer {
  std::thread thread;
  std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

bool HttpStream::Write(std::string data) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    if (pending_.size() + data.size() > kMaxBacklog) return false;
    wake = pending_.empty();
    pending_ += data;
  }
  if (wake && wake_) wake_();
  return true;
}

bool HttpStream::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void HttpStream::OnClose(std::function<void()> f) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_) {
      on_close_.push_back(std::move(f));
      return;
    }
  }
  f();
}

void HttpStream::Close() {
  std::vector<std::function<void()>> run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    run.swap(on_close_);
    pending_.clear();
  }
  for (auto& f : run) f();
}

std::string HttpStream::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out.swap(pending_);
  return out;
}

class HttpServer::Loop {
 public:
  Loop(int listen_fd, Handlers handlers, Limits limits)
      : listen_fd_(listen_fd), handlers_(std::move(handlers)), limits_(limits) {
    if (pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
    // Webhooks touch the store: never on the loop.
    workers_ = std::make_unique<core::ThreadPool>(2, "http-webhooks");
    // Console calls wait on the API: a pool of their own.
    console_workers_ = std::make_unique<core::ThreadPool>(4, "http-console");
  }

  ~Loop() {
    workers_.reset();  // waits for running webhooks; their answers are dropped
    console_workers_.reset();
    for (auto& [id, c] : conns_) {
      if (c.stream) c.stream->Close();
    }
    for (auto& p : producers_) p.thread.join();
    for (auto& [id, c] : conns_) close(c.fd);
    if (listen_fd_ >= 0) close(listen_fd_);
    if (wake_[0] >= 0) close(wake_[0]);
    if (wake_[1] >= 0) close(wake_[1]);
  }

  void Stop() {
    stop_ = true;
    Wake();
  }

  void Run() {
    std::vector<pollfd> fds;
    std::vector<uint64_t> ids;
    while (!stop_) {
      while (!pipelined_.empty()) {
        uint64_t id = pipelined_.front();
        pipelined_.pop_front();
        auto it = conns_.find(id);
        if (it != conns_.end() && it->second.state == Conn::State::kHeaders) Advance(it->second);
      }
      fds.clear();
      ids.clear();
      fds.push_back({listen_fd_, POLLIN, 0});
      fds.push_back({wake_[0], POLLIN, 0});
      Clock::time_point next = Clock::now() + std::chrono::seconds(1);
      for (auto& [id, c] : conns_) {
        short events = 0;
        if (c.Reading() || c.state == Conn::State::kLinger || c.state == Conn::State::kStreaming) events |= POLLIN;
        if (c.out_pos < c.out.size()) events |= POLLOUT;
        fds.push_back({c.fd, events, 0});
        ids.push_back(id);
        if (c.state != Conn::State::kHandling) next = std::min(next, c.deadline);
      }
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now()).count();
      int n = poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait + 1, 0, 1000)));
      if (n < 0 && errno != EINTR) {
        core::Logger("server")->error("HTTP: poll: {}", std::strerror(errno));
        return;
      }
      if (stop_) return;
      if (fds[1].revents & POLLIN) {
        char buf[256];
        while (read(wake_[0], buf, sizeof(buf)) > 0) {
        }
      }
      Finished();
      for (size_t i = 0; i < ids.size(); ++i) {
        short re = fds[i + 2].revents;
        if (re == 0) continue;
        auto it = conns_.find(ids[i]);
        if (it == conns_.end()) continue;
        Conn& c = it->second;
        if (re & (POLLIN | POLLHUP | POLLERR)) ReadFrom(c);
        if (conns_.count(ids[i]) && (re & POLLOUT)) WriteTo(c);
      }
      if (fds[0].revents & POLLIN) Accept();
      Expire();
    }
  }

 private:
  void Wake() {
    if (wake_[1] >= 0) {
      char b = 1;
      (void)!write(wake_[1], &b, 1);
    }
  }

  void Accept() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: try on the next round
      if (conns_.size() >= limits_.max_connections && !EvictOne()) {
        close(fd);
        continue;
      }
      Conn c;
      c.fd = fd;
      c.id = ++next_id_;
      c.started = Clock::now();
      c.deadline = c.started + limits_.header_timeout;
      conns_.emplace(c.id, std::move(c));
    }
  }

  // Makes room: drops the connection that has been reading its request the
  // longest (a slow client), never one being answered.
  bool EvictOne() {
    auto victim = conns_.end();
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (!it->second.Reading() && it->second.state != Conn::State::kLinger) continue;
      if (victim == conns_.end() || it->second.started < victim->second.started) victim = it;
    }
    if (victim == conns_.end()) return false;
    Close(victim->second);
    return true;
  }

  void Close(Conn& c) {
    if (c.stream) c.stream->Close();
    close(c.fd);
    conns_.erase(c.id);
  }

  void ReadFrom(Conn& c) {
    char buf[64 << 10];
    ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
      Close(c);  // the client went away (or reset)
      return;
    }
    if (c.state == Conn::State::kStreaming) return;  // nothing is read from a stream's client
    if (c.state == Conn::State::kLinger) {
      // A refused request's rest is dropped, up to a bound.
      c.lingered += static_cast<size_t>(n);
      if (c.lingered > kMaxLingerBytes) Close(c);
      return;
    }
    if (c.state == Conn::State::kHeaders && c.in.empty()) {
      // The first byte of a request on a kept-alive connection starts its clock.
      c.started = Clock::now();
      c.deadline = c.started + limits_.header_timeout;
    }
    c.in.append(buf, static_cast<size_t>(n));
    Advance(c);
  }

  // Parses what has arrived; dispatches a request once it is whole.
  void Advance(Conn& c) {
    size_t pos = 0;
    const uint64_t id = c.id;
    while (c.Reading()) {
      const size_t have = c.in.size() - pos;
      if (c.state == Conn::State::kHeaders) {
        size_t end = c.in.find("\r\n\r\n", pos);
        if (end == std::string::npos) {
          if (have > limits_.max_header_bytes) return Refuse(c, 431, "request headers: larger than 16 KiB");
          break;
        }
        if (end - pos > limits_.max_header_bytes) return Refuse(c, 431, "request headers: larger than 16 KiB");
        std::string head = c.in.substr(pos, end - pos);
        pos = end + 4;
        Head next = ParseHead(c, head);
        if (next == Head::kAnswered || !conns_.count(id)) return;
        if (next == Head::kWhole) {
          c.in.erase(0, pos);
          return Dispatch(c);
        }
        continue;
      }
      if (c.state == Conn::State::kBody || c.state == Conn::State::kChunkData) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(c.body_left, have));
        c.req.body.append(c.in, pos, take);
        pos += take;
        c.body_left -= take;
        if (c.body_left > 0) break;
        if (c.state == Conn::State::kBody) {
          c.in.erase(0, pos);
          return Dispatch(c);
        }
        c.state = Conn::State::kChunkEnd;
        continue;
      }
      if (c.state == Conn::State::kChunkEnd) {
        if (have < 2) break;
        if (c.in.compare(pos, 2, "\r\n") != 0) return Refuse(c, 400, "chunked body: a chunk does not end in CRLF");
        pos += 2;
        c.state = Conn::State::kChunkSize;
        continue;
      }
      // kChunkSize and kTrailers read lines.
      size_t eol = c.in.find("\r\n", pos);
      if (eol == std::string::npos) {
        if (have > 1024 || c.trailer_bytes + have > limits_.max_header_bytes) {
          return Refuse(c, 400, "chunked body: a chunk-size or trailer line is too long");
        }
        break;
      }
      std::string line = c.in.substr(pos, eol - pos);
      pos = eol + 2;
      if (c.state == Conn::State::kTrailers) {
        c.trailer_bytes += line.size() + 2;
        if (c.trailer_bytes > limits_.max_header_bytes) return Refuse(c, 431, "trailers: larger than 16 KiB");
        if (line.empty()) {
          c.in.erase(0, pos);
          return Dispatch(c);
        }
        continue;
      }
      std::string size_text(absl::StripAsciiWhitespace(line.substr(0, line.find(';'))));
      uint64_t size = 0;
      if (size_text.empty() || size_text.size() > 15 || !absl::SimpleHexAtoi(size_text, &size)) {
        return Refuse(c, 400, "chunked body: a chunk size is not hexadecimal");
      }
      if (size > BodyLimit(c) - c.req.body.size()) return TooLarge(c);
      if (size == 0) {
        c.state = Conn::State::kTrailers;
      } else {
        c.state = Conn::State::kChunkData;
        c.body_left = size;
      }
    }
    c.in.erase(0, pos);
  }

  enum class Head { kAnswered, kBody, kWhole };

  // The request line and headers: kAnswered when they were refused, kWhole
  // for a request without a body, else kBody (c.state says which kind).
  Head ParseHead(Conn& c, const std::string& head) {
    c.req = Request();
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    // Tolerate blank lines before a request (RFC 9112 section 2.2).
    size_t first = 0;
    while (first < lines.size() && lines[first].empty()) ++first;
    if (first == lines.size()) {
      Refuse(c, 400, "request line: missing");
      return Head::kAnswered;
    }
    std::vector<std::string> parts = absl::StrSplit(lines[first], ' ');
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || !absl::StartsWith(parts[2], "HTTP/1.")) {
      Refuse(c, 400, "request line: not METHOD target HTTP/1.x");
      return Head::kAnswered;
    }
    c.req.method = parts[0];
    c.req.target = parts[1];
    c.req.path = parts[1].substr(0, parts[1].find('?'));
    c.req.http10 = parts[2] == "HTTP/1.0";
    for (size_t i = first + 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos || colon == 0 || lines[i][0] == ' ' || lines[i][0] == '\t') {
        Refuse(c, 400, "request headers: a line is not name: value");
        return Head::kAnswered;
      }
      std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
      auto [it, fresh] = c.req.headers.emplace(name, value);
      if (!fresh) {
        if (name == "content-length" || name == "transfer-encoding" || name == "host") {
          Refuse(c, 400, absl::StrCat(name, ": given more than once"));
          return Head::kAnswered;
        }
        it->second += ", " + value;
      }
    }
    const auto& h = c.req.headers;
    std::string connection = h.count("connection") ? absl::AsciiStrToLower(h.at("connection")) : "";
    c.close_after = c.req.http10 ? !absl::StrContains(connection, "keep-alive") : absl::StrContains(connection, "close");
    c.deadline = Clock::now() + limits_.body_timeout;
    const bool chunked = h.count("transfer-encoding") > 0;
    const bool sized = h.count("content-length") > 0;
    if (chunked && sized) {
      Refuse(c, 400, "Content-Length and Transfer-Encoding: give one");
      return Head::kAnswered;
    }
    if (chunked) {
      if (absl::AsciiStrToLower(h.at("transfer-encoding")) != "chunked") {
        Refuse(c, 501, "Transfer-Encoding: only chunked is supported");
        return Head::kAnswered;
      }
      c.state = Conn::State::kChunkSize;
      Continue(c);
      return Head::kBody;
    }
    uint64_t length = 0;
    if (sized) {
      const std::string& v = h.at("content-length");
      if (v.empty() || v.size() > 19 || !std::all_of(v.begin(), v.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(v, &length)) {
        Refuse(c, 400, "Content-Length: not a number");
        return Head::kAnswered;
      }
    }
    if (length > BodyLimit(c)) {
      // Refused on the declared length: not a byte of the body is read.
      TooLarge(c);
      return Head::kAnswered;
    }
    if (length == 0) return Head::kWhole;
    c.state = Conn::State::kBody;
    c.body_left = length;
    Continue(c);
    return Head::kBody;
  }

  // Expect: 100-continue: the client waits for this before sending a body.
  void Continue(Conn& c) {
    auto it = c.req.headers.find("expect");
    if (it != c.req.headers.end() && absl::EqualsIgnoreCase(it->second, "100-continue") && !c.req.http10) {
      c.out += "HTTP/1.1 100 Continue\r\n\r\n";
      WriteTo(c);
    }
  }

  size_t BodyLimit(const Conn& c) const {
    return absl::StartsWith(c.req.path, "/v1/state/") && handlers_.state ? limits_.max_state_body_bytes
                                                                         : limits_.max_body_bytes;
  }

  void TooLarge(Conn& c) {
    if (absl::StartsWith(c.req.path, "/webhooks/") && handlers_.webhook_too_large) {
      handlers_.webhook_too_large(c.req.path.substr(10));
    }
    Refuse(c, 413, absl::StrCat("body: larger than the ", BodyLimit(c) >> 20, " MiB limit"));
  }

  // An error answer; the connection closes after it (what follows in the
  // stream cannot be trusted to start a request).
  void Refuse(Conn& c, int status, const std::string& why) {
    c.close_after = true;
    c.in.clear();
    Respond(c, status, why + "\n", "text/plain");
  }

  void Dispatch(Conn& c) {
    c.state = Conn::State::kHandling;
    const Request& r = c.req;
    const bool get = r.method == "GET" || r.method == "HEAD";
    if (r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics") {
      if (!get) return Respond(c, 405, "use GET\n", "text/plain", "Allow: GET, HEAD\r\n");
      if (r.path == "/healthz") return Respond(c, 200, "ok\n", "text/plain");
      if (r.path == "/readyz") {
        std::string why = handlers_.not_ready ? handlers_.not_ready() : "";
        return Respond(c, why.empty() ? 200 : 503, why.empty() ? "ready\n" : "not ready: " + why + "\n",
                       "text/plain");
      }
      return Respond(c, 200, handlers_.metrics ? handlers_.metrics() : "",
                     "text/plain; version=0.0.4; charset=utf-8");
    }
    if ((r.path == "/webhooks/github" || r.path == "/webhooks/gitlab") && handlers_.webhook) {
      if (r.method != "POST") return Respond(c, 405, "use POST\n", "text/plain", "Allow: POST\r\n");
      auto w = std::make_shared<WebhookRequest>();
      w->provider = r.path.substr(10);
      w->headers = r.headers;
      w->body = std::move(c.req.body);
      workers_->Submit([this, id = c.id, w] {
        WebhookResponse answer = handlers_.webhook(*w);
        {
          std::lock_guard<std::mutex> lock(mu_);
          done_.emplace_back(id, HttpAnswer{answer.status, std::move(answer.body)});
        }
        Wake();
      });
      return;
    }
    if (absl::StartsWith(r.path, "/v1/state/") && handlers_.state) return Hand(c, *workers_, handlers_.state);
    if (handlers_.console) return Hand(c, *console_workers_, handlers_.console);
    Respond(c, 404, "not found\n", "text/plain");
  }

  // Runs `handler` for the request on `pool`; its answer goes out from the loop.
  void Hand(Conn& c, core::ThreadPool& pool, const std::function<HttpAnswer(const HttpCall&)>& handler) {
    const Request& r = c.req;
    auto call = std::make_shared<HttpCall>();
    call->method = r.method;
    call->path = r.path;
    call->query = r.target.find('?') == std::string::npos ? "" : r.target.substr(r.target.find('?') + 1);
    call->headers = r.headers;
    call->body = std::move(c.req.body);
    pool.Submit([this, id = c.id, call, &handler] {
      HttpAnswer answer = handler(*call);
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_.emplace_back(id, std::move(answer));
      }
      Wake();
    });
  }

  // A streamed answer: the head now, then what its producer writes.
  void StartStream(Conn& c, HttpAnswer answer) {
    size_t open = 0;
    for (auto& [id, other] : conns_) open += other.state == Conn::State::kStreaming;
    if (open >= limits_.max_streams) {
      c.close_after = true;
      return Respond(c, 503, "too many open streams; try again later\n", "text/plain", "Retry-After: 5\r\n");
    }
    c.state = Conn::State::kStreaming;
    absl::StrAppend(&c.out, "HTTP/1.1 ", answer.status, " ", Reason(answer.status),
                    "\r\nContent-Type: ", answer.content_type, "\r\n", answer.headers,
                    "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    c.deadline = Clock::now() + limits_.write_timeout;
    c.stream = std::make_shared<HttpStream>([this] { Wake(); });
    Producer p;
    p.thread = std::thread([stream = c.stream, done = p.done, f = std::move(answer.stream), this] {
      f(*stream);
      done->store(true);
      Wake();
    });
    producer_of_[c.id] = p.done;
    producers_.push_back(std::move(p));
    WriteTo(c);
  }

  // Moves what producers wrote to their connections; ends finished streams.
  void Pump() {
    std::vector<uint64_t> ended;
    for (auto& [id, c] : conns_) {
      if (c.state != Conn::State::kStreaming) continue;
      std::string data = c.stream->Take();
      if (!data.empty()) {
        if (c.out_pos == c.out.size()) c.deadline = Clock::now() + limits_.write_timeout;
        c.out += data;
      }
      auto p = producer_of_.find(id);
      if (p != producer_of_.end() && p->second->load() && data.empty() && c.out_pos == c.out.size()) {
        ended.push_back(id);
      }
    }
    for (uint64_t id : ended) {
      Conn& c = conns_.at(id);
      producer_of_.erase(id);
      c.stream->Close();
      c.stream.reset();
      shutdown(c.fd, SHUT_WR);
      c.state = Conn::State::kLinger;
      c.deadline = Clock::now() + std::chrono::seconds(2);
    }
    std::vector<uint64_t> behind;
    for (auto& [id, c] : conns_) {
      if (c.state == Conn::State::kStreaming && c.out_pos < c.out.size()) behind.push_back(id);
    }
    for (uint64_t id : behind) {
      Conn& c = conns_.at(id);
      if (c.out.size() - c.out_pos > (8u << 20)) {
        Close(c);  // a client that does not read falls this far behind only once
        continue;
      }
      WriteTo(c);
    }
    // Join producers that returned.
    for (auto it = producers_.begin(); it != producers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = producers_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = producer_of_.begin(); it != producer_of_.end();) {
      it = conns_.count(it->first) ? std::next(it) : producer_of_.erase(it);
    }
  }

  // Webhook answers from the workers.
  void Finished() {
    std::deque<std::pair<uint64_t, HttpAnswer>> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done.swap(done_);
    }
    for (auto& [id, answer] : done) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;  // the client left meanwhile
      if (answer.stream) {
        StartStream(it->second, std::move(answer));
        continue;
      }
      Respond(it->second, answer.status, answer.body, answer.content_type.c_str(), answer.headers);
    }
    Pump();
  }

  void Respond(Conn& c, int status, const std::string& body, const char* type, const std::string& extra = "") {
    c.state = Conn::State::kWriting;
    c.deadline = Clock::now() + limits_.write_timeout;
    absl::StrAppend(&c.out, "HTTP/1.1 ", status, " ", Reason(status), "\r\nContent-Type: ", type,
                    "\r\nContent-Length: ", body.size(), "\r\n", extra,
                    c.close_after ? "Connection: close\r\n" : "", "\r\n");
    if (c.req.method != "HEAD") c.out += body;
    WriteTo(c);
  }

  void WriteTo(Conn& c) {
    while (c.out_pos < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (n <= 0) return Close(c);
      c.out_pos += static_cast<size_t>(n);
    }
    c.out.clear();
    c.out_pos = 0;
    if (c.state != Conn::State::kWriting) return;  // a 100 Continue went out
    if (c.close_after) {
      // Lingering close: stop sending, read (and drop) what the client is
      // still sending for a moment, so that it sees the answer, not a reset.
      shutdown(c.fd, SHUT_WR);
      c.state = Conn::State::kLinger;
      c.deadline = Clock::now() + std::chrono::seconds(2);
      return;
    }
    c.state = Conn::State::kHeaders;
    c.req = Request();
    c.deadline = Clock::now() + limits_.idle_timeout;
    if (!c.in.empty()) {
      // A pipelined request is already here: parsed on the next round (not
      // from here, which may be inside Advance).
      c.started = Clock::now();
      c.deadline = c.started + limits_.header_timeout;
      pipelined_.push_back(c.id);
    }
  }

  void Expire() {
    const Clock::time_point now = Clock::now();
    std::vector<uint64_t> late;
    for (auto& [id, c] : conns_) {
      if (c.state == Conn::State::kStreaming && c.out_pos == c.out.size()) continue;  // waits for its producer
      if (c.state != Conn::State::kHandling && now >= c.deadline) late.push_back(id);
    }
    for (uint64_t id : late) {
      Conn& c = conns_.at(id);
      if (c.Reading() && !(c.state == Conn::State::kHeaders && c.in.empty())) {
        Refuse(c, 408, c.state == Conn::State::kHeaders ? "request headers: not received in time"
                                                          : "body: not received in time");
        if (conns_.count(id) && c.state == Conn::State::kWriting) {
          // A client that does not read its 408 either gets no more time.
          c.deadline = now + std::chrono::seconds(1);
        }
      } else {
        Close(c);  // idle, lingering, or not taking its answer
      }
    }
  }

  const int listen_fd_;
  const Handlers handlers_;
  const Limits limits_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::map<uint64_t, Conn> conns_;
  uint64_t next_id_ = 0;
  std::deque<uint64_t> pipelined_;  // connections with a next request already read
  std::mutex mu_;
  std::deque<std::pair<uint64_t, HttpAnswer>> done_;  // guarded by mu_
  std::unique_ptr<core::ThreadPool> workers_;
  std::unique_ptr<core::ThreadPool> console_workers_;
  std::list<Producer> producers_;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> producer_of_;  // streaming connection -> its producer's end
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen, Handlers handlers,
                                                              Limits limits) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("http_listen: \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &found) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen, ": unknown host"));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only, not SO_REUSEPORT: a second plinthd must fail to
    // bind rather than share the port silently.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen,
                                               " (address in use, or not a local address?)"));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  int bound_port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  std::unique_ptr<HttpServer> out(new HttpServer());
  out->loop_ = std::make_unique<Loop>(fd, std::move(handlers), limits);
  out->address_ = absl::StrCat(listen.substr(0, colon), ":", bound_port);
  out->thread_ = std::thread([loop = out->loop_.get()] { loop->Run(); });
  core::Logger("server")->info("HTTP (health, readiness, metrics, webhooks) on {}", out->address_);
  return out;
}

HttpServer::~HttpServer() {
  if (loop_) loop_->Stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace plinth::server
