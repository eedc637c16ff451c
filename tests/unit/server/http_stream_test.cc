// HttpServer's streamed answers: what the producer writes reaches the
// client as it is written, a client that leaves closes the stream (so its
// producer stops), and past max_streams a stream is refused with 503.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/server/http_server.h"

namespace plinth::server {
namespace {

using ::testing::HasSubstr;

int Connect(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

// Reads until `want` has arrived (or 5 s pass, or the peer closes).
std::string ReadUntil(int fd, const std::string& want) {
  std::string got;
  char buf[4096];
  while (got.find(want) == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

struct Producers {
  std::atomic<int> running{0};
  std::atomic<int> stopped{0};
};

HttpServer::Handlers Streaming(Producers* p) {
  HttpServer::Handlers h;
  h.console = [p](const HttpCall& call) {
    HttpAnswer a;
    a.content_type = "text/event-stream";
    if (call.path == "/short") {
      a.stream = [](HttpStream& out) {
        out.Write("data: 1\n\n");
        out.Write("data: 2\n\n");
      };
      return a;
    }
    a.stream = [p](HttpStream& out) {
      ++p->running;
      for (int i = 0; out.Write("data: tick " + std::to_string(i) + "\n\n"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      --p->running;
      ++p->stopped;
    };
    return a;
  };
  return h;
}

TEST(HttpStreamTest, AStreamEndsWhenItsProducerReturns) {
  Producers p;
  auto server = HttpServer::Start("127.0.0.1:0", Streaming(&p));
  ASSERT_TRUE(server.ok()) << server.status();
  int fd = Connect((*server)->address());
  std::string req = "GET /short HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string got = ReadUntil(fd, "\x01never");  // to the close
  close(fd);
  EXPECT_THAT(got, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(got, HasSubstr("Content-Type: text/event-stream\r\n"));
  EXPECT_THAT(got, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(got, HasSubstr("\r\n\r\ndata: 1\n\ndata: 2\n\n"));
}

TEST(HttpStreamTest, AClientThatLeavesStopsItsProducer) {
  Producers p;
  auto server = HttpServer::Start("127.0.0.1:0", Streaming(&p));
  ASSERT_TRUE(server.ok());
  int fd = Connect((*server)->address());
  std::string req = "GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  EXPECT_THAT(ReadUntil(fd, "tick 3\n"), HasSubstr("data: tick 3\n\n"));
  close(fd);
  for (int i = 0; i < 250 && p.stopped.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(p.stopped.load(), 1);
  EXPECT_EQ(p.running.load(), 0);
}

TEST(HttpStreamTest, StreamsPastTheLimitAreRefusedAndShutdownStopsTheRest) {
  Producers p;
  HttpServer::Limits limits;
  limits.max_streams = 2;
  auto server = HttpServer::Start("127.0.0.1:0", Streaming(&p), limits);
  ASSERT_TRUE(server.ok());
  std::string req = "GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n";
  int a = Connect((*server)->address());
  int b = Connect((*server)->address());
  send(a, req.data(), req.size(), 0);
  EXPECT_THAT(ReadUntil(a, "tick 0\n"), HasSubstr("tick 0"));
  send(b, req.data(), req.size(), 0);
  EXPECT_THAT(ReadUntil(b, "tick 0\n"), HasSubstr("tick 0"));
  int c = Connect((*server)->address());
  send(c, req.data(), req.size(), 0);
  std::string third = ReadUntil(c, "try again later");
  EXPECT_THAT(third, HasSubstr("HTTP/1.1 503 "));
  EXPECT_THAT(third, HasSubstr("Retry-After: 5"));
  close(c);
  // Stopping the server closes the streams; the producers return.
  server->reset();
  EXPECT_EQ(p.stopped.load(), 2);
  EXPECT_EQ(p.running.load(), 0);
  close(a);
  close(b);
}

}  // namespace
}  // namespace plinth::server
