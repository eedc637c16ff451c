#include "plinth/cloudops/kube_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

// Reads more of a response or returns why it cannot.
#define PLINTH_KUBE_FILL()         \
  do {                             \
    absl::Status _s = Fill();      \
    if (!_s.ok()) return _s;       \
  } while (0)

namespace plinth::cloudops {
namespace {

using nlohmann::json;

// OpenSSL writes to the socket with write(2), which raises SIGPIPE when the
// server has gone; a library must not kill its host for that. SIGPIPE is
// blocked in this thread for the write, and one it raised is taken back.
class NoSigpipe {
 public:
  NoSigpipe() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending_);
    was_pending_ = sigismember(&pending_, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~NoSigpipe() {
    if (!was_pending_) {
      sigset_t now;
      sigpending(&now);
      if (sigismember(&now, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        timespec zero{0, 0};
        sigtimedwait(&pipe, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;

 private:
  sigset_t pending_;
  sigset_t old_;
  bool was_pending_ = false;
};

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// One TCP (or TLS) connection with deadlines; the socket is blocking and
// every read waits in poll first, so that a cancel is seen.
class Conn {
 public:
  ~Conn() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Open(const std::string& host, int port, SSL_CTX* ctx, const std::string& sni, absl::Duration timeout) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
    absl::Status last = absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port));
    for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (fd < 0) continue;
      if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last = absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port, ": ", strerror(errno)));
        close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1 ||
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        last = absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port, ": ",
                                                   err != 0 ? strerror(err) : "timed out"));
        close(fd);
        continue;
      }
      int flags = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flags, sizeof flags);
      fcntl_blocking(fd);
      fd_ = fd;
    }
    freeaddrinfo(found);
    if (fd_ < 0) return last;
    SetTimeout(timeout);
    if (ctx == nullptr) return absl::OkStatus();
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    if (!sni.empty()) {
      SSL_set_tlsext_host_name(ssl_, sni.c_str());
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
      in6_addr ip6;
      in_addr ip4;
      if (inet_pton(AF_INET, sni.c_str(), &ip4) == 1 || inet_pton(AF_INET6, sni.c_str(), &ip6) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(param, sni.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, sni.c_str(), 0);
      }
    }
    NoSigpipe no_sigpipe;
    if (SSL_connect(ssl_) != 1) {
      long verify = SSL_get_verify_result(ssl_);
      std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : OpenSslError();
      return absl::UnavailableError(absl::StrCat("TLS with ", host, ":", port, " failed: ", why));
    }
    return absl::OkStatus();
  }

  void SetTimeout(absl::Duration d) {
    timeval tv = absl::ToTimeval(d);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  absl::Status Write(absl::string_view data) {
    std::lock_guard<std::mutex> lock(write_mu_);
    NoSigpipe no_sigpipe;
    while (!data.empty()) {
      ssize_t n = ssl_ != nullptr ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                                  : send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return absl::UnavailableError("the connection to the API server broke while writing");
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

  // Some bytes: > 0 read, 0 the peer closed, -1 an error, -2 nothing within
  // `wait` (the caller checks its cancel and comes back).
  ssize_t Read(char* buf, size_t n, absl::Duration wait) {
    if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
      pollfd p{fd_, POLLIN, 0};
      int rc = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait)));
      if (rc == 0) return -2;
      if (rc < 0) return errno == EINTR ? -2 : -1;
    }
    if (ssl_ == nullptr) return recv(fd_, buf, n, 0);
    NoSigpipe no_sigpipe;
    int r = SSL_read(ssl_, buf, static_cast<int>(n));
    if (r > 0) return r;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_WANT_READ) return -2;
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return 0;  // closed without close_notify
    return -1;
  }

  void Shutdown() { shutdown(fd_, SHUT_RDWR); }

 private:
  static void fcntl_blocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::mutex write_mu_;
};

// Reads an HTTP/1.1 response: status, headers (lower-cased), then the body
// through `on_body` (de-chunked). `buffered` holds bytes read past a point.
class ResponseReader {
 public:
  ResponseReader(Conn* conn, const std::atomic<bool>* cancel, absl::Duration timeout)
      : conn_(conn), cancel_(cancel), timeout_(timeout) {}

  absl::Status ReadHead() {
    for (;;) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
        std::vector<std::string> first = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
        if (first.size() < 2 || !absl::StartsWith(first[0], "HTTP/1.") || !absl::SimpleAtoi(first[1], &status)) {
          return absl::UnavailableError("the API server's answer is not HTTP/1.1");
        }
        for (size_t i = 1; i < lines.size(); ++i) {
          size_t colon = lines[i].find(':');
          if (colon == std::string::npos) continue;
          headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
              std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
        }
        return absl::OkStatus();
      }
      if (buf_.size() > 64 * 1024) return absl::UnavailableError("the API server's answer has headers over 64 KiB");
      absl::Status more = Fill();
      if (!more.ok()) return more;
    }
  }

  // The body, until it ends or `on_body` returns false.
  absl::Status ReadBody(const std::function<bool(absl::string_view)>& on_body) {
    auto te = headers.find("transfer-encoding");
    if (te != headers.end() && absl::AsciiStrToLower(te->second).find("chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) PLINTH_KUBE_FILL();
        size_t size = 0;
        std::string hex = buf_.substr(0, buf_.find_first_of(";\r"));
        if (!absl::SimpleHexAtoi(hex, &size)) return absl::UnavailableError("the API server sent a bad chunk size");
        buf_.erase(0, eol + 2);
        if (size == 0) {
          while (buf_.size() < 2) PLINTH_KUBE_FILL();  // the last chunk's CRLF (no trailers)
          buf_.erase(0, 2);
          delimited_ = true;
          return absl::OkStatus();
        }
        while (size > 0) {
          if (buf_.empty()) PLINTH_KUBE_FILL();
          size_t take = std::min(size, buf_.size());
          if (!on_body(absl::string_view(buf_).substr(0, take))) return absl::OkStatus();
          buf_.erase(0, take);
          size -= take;
        }
        while (buf_.size() < 2) PLINTH_KUBE_FILL();
        buf_.erase(0, 2);
      }
    }
    auto cl = headers.find("content-length");
    int64_t left = -1;
    if (cl != headers.end() && !absl::SimpleAtoi(cl->second, &left)) return absl::UnavailableError("bad Content-Length");
    delimited_ = left >= 0;
    while (left != 0) {
      if (buf_.empty()) {
        absl::Status s = Fill();
        if (absl::IsOutOfRange(s) && left < 0) return absl::OkStatus();  // to the close
        if (!s.ok()) return s;
      }
      size_t take = left < 0 ? buf_.size() : std::min<size_t>(static_cast<size_t>(left), buf_.size());
      if (!on_body(absl::string_view(buf_).substr(0, take))) return absl::OkStatus();
      buf_.erase(0, take);
      if (left > 0) left -= static_cast<int64_t>(take);
    }
    return absl::OkStatus();
  }

  // Reads more into the buffer: OUT_OF_RANGE at the peer's close, CANCELLED
  // when cancelled, DEADLINE_EXCEEDED after `timeout` of silence.
  absl::Status Fill() {
    char tmp[65536];
    absl::Time until = absl::Now() + timeout_;
    for (;;) {
      if (cancel_ != nullptr && cancel_->load()) return absl::CancelledError("cancelled");
      ssize_t n = conn_->Read(tmp, sizeof tmp, absl::Milliseconds(200));
      if (n > 0) {
        received_any_ = true;
        buf_.append(tmp, static_cast<size_t>(n));
        return absl::OkStatus();
      }
      if (n == 0) return absl::OutOfRangeError("the API server closed the connection");
      if (n == -1) return absl::UnavailableError("the connection to the API server broke");
      if (absl::Now() > until) return absl::DeadlineExceededError("the API server did not answer in time");
    }
  }

  std::string& buffered() { return buf_; }
  // The body's end was known (a length or chunks), not the connection's close.
  bool delimited() const { return delimited_; }
  bool received_any() const { return received_any_; }

  int status = 0;
  std::map<std::string, std::string> headers;

 private:
  Conn* conn_;
  const std::atomic<bool>* cancel_;
  absl::Duration timeout_;
  std::string buf_;
  bool delimited_ = false;
  bool received_any_ = false;
};

}  // namespace

absl::Status StatusFromKube(int http_status, absl::string_view body) {
  std::string message;
  json doc = json::parse(body, nullptr, false);
  if (doc.is_object() && doc.value("kind", "") == "Status") message = doc.value("message", "");
  if (message.empty()) message = std::string(body.substr(0, 512));
  if (message.empty()) message = absl::StrCat("HTTP ", http_status);
  const std::string reason = doc.is_object() ? doc.value("reason", "") : "";
  message = absl::StrCat("the API server answered ", http_status, ": ", message);
  switch (http_status) {
    case 401: return absl::UnauthenticatedError(message);
    case 403: return absl::PermissionDeniedError(message);
    case 404: return absl::NotFoundError(message);
    case 409: return reason == "AlreadyExists" ? absl::AlreadyExistsError(message) : absl::AbortedError(message);
    case 400:
    case 422: return absl::InvalidArgumentError(message);
    default: return absl::UnavailableError(message);
  }
}

struct KubeClient::Impl {
  SSL_CTX* ctx = nullptr;  // null for http://
  std::string host, sni, host_header;
  int port = 0;
  ~Impl() {
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }

  absl::StatusOr<std::unique_ptr<Conn>> Connect(absl::Duration timeout) const {
    auto conn = std::make_unique<Conn>();
    absl::Status s = conn->Open(host, port, ctx, sni, timeout);
    if (!s.ok()) return s;
    return conn;
  }

  // Connections kept alive after a call (HTTP/1.1 keep-alive), so that a
  // call costs no TCP and TLS handshake; at most kIdle.
  static constexpr size_t kIdle = 4;
  std::unique_ptr<Conn> TakeIdle() const {
    std::lock_guard<std::mutex> lock(idle_mu);
    if (idle.empty()) return nullptr;
    auto c = std::move(idle.back());
    idle.pop_back();
    return c;
  }
  void GiveBack(std::unique_ptr<Conn> c) const {
    std::lock_guard<std::mutex> lock(idle_mu);
    if (idle.size() < kIdle) idle.push_back(std::move(c));
  }
  mutable std::mutex idle_mu;
  mutable std::vector<std::unique_ptr<Conn>> idle;
};

namespace {

absl::Status LoadPem(SSL_CTX* ctx, const ClusterAccess& a) {
  if (!a.ca_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(a.ca_pem.data(), static_cast<int>(a.ca_pem.size()));
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      added += X509_STORE_add_cert(store, cert);
      X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (added == 0) return absl::InvalidArgumentError("certificate-authority: no PEM certificate in it");
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  if (!a.client_cert_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(a.client_cert_pem.data(), static_cast<int>(a.client_cert_pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    bio = BIO_new_mem_buf(a.client_key_pem.data(), static_cast<int>(a.client_key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(ctx, cert) == 1 &&
              SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    if (cert != nullptr) X509_free(cert);
    if (key != nullptr) EVP_PKEY_free(key);
    if (!ok) {
      std::string why = OpenSslError();
      return absl::InvalidArgumentError(absl::StrCat("client-certificate/client-key: ", cert == nullptr ? "not a PEM certificate"
                                                     : key == nullptr ? "not a PEM private key" : why));
    }
  }
  return absl::OkStatus();
}

std::string RequestHead(const std::string& method, const std::string& path, const std::string& host_header,
                        const ClusterAccess& a, const std::string& extra) {
  std::string head = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", host_header,
                                  "\r\nUser-Agent: plinth-runner\r\n");
  if (!a.token.empty()) absl::StrAppend(&head, "Authorization: Bearer ", a.token, "\r\n");
  absl::StrAppend(&head, extra, "\r\n");
  return head;
}

}  // namespace

KubeClient::KubeClient(ClusterAccess access, Options options, std::unique_ptr<Impl> impl)
    : access_(std::move(access)), options_(options), impl_(std::move(impl)) {
  static std::atomic<uint64_t> next{0};
  id_ = ++next;
}
KubeClient::~KubeClient() = default;

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(ClusterAccess access, Options options) {
  auto impl = std::make_unique<Impl>();
  bool tls = absl::StartsWith(access.server, "https://");
  std::string rest = access.server.substr(tls ? 8 : 7);
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("server ", access.server, ": a path prefix is not supported"));
  }
  impl->host_header = rest;
  impl->port = tls ? 443 : 80;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return absl::InvalidArgumentError("server: bad IPv6 address");
    impl->host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (absl::StartsWith(rest, ":") && !absl::SimpleAtoi(rest.substr(1), &impl->port)) {
      return absl::InvalidArgumentError("server: bad port");
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    impl->host = rest.substr(0, colon);
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &impl->port)) return absl::InvalidArgumentError("server: bad port");
  } else {
    impl->host = rest;
  }
  if (impl->host.empty()) return absl::InvalidArgumentError(absl::StrCat("server ", access.server, ": no host"));
  if (tls) {
    impl->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(impl->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(impl->ctx, access.insecure_skip_tls_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
    absl::Status loaded = LoadPem(impl->ctx, access);
    if (!loaded.ok()) return loaded;
    impl->sni = access.tls_server_name.empty() ? impl->host : access.tls_server_name;
  } else if (!access.client_cert_pem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("server ", access.server, ": a client certificate needs https"));
  }
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(access), options, std::move(impl)));
}

absl::StatusOr<json> KubeClient::Call(const std::string& method, const std::string& path, const json* body) const {
  std::string payload = body != nullptr ? body->dump() : "";
  std::string extra = "Accept: application/json\r\n";
  if (body != nullptr) {
    absl::StrAppend(&extra, "Content-Type: ",
                    method == "PATCH" ? "application/merge-patch+json" : "application/json",
                    "\r\nContent-Length: ", payload.size(), "\r\n");
  }
  const std::string request = RequestHead(method, path, impl_->host_header, access_, extra) + payload;
  // A GET may go on a kept connection (and again on a fresh one if the
  // server had closed it meanwhile); a change always takes a fresh one, so
  // it is never sent twice.
  std::unique_ptr<Conn> conn = method == "GET" ? impl_->TakeIdle() : nullptr;
  const bool reused = conn != nullptr;
  std::optional<ResponseReader> r;
  for (int attempt = 0;; ++attempt) {
    if (conn == nullptr) {
      auto fresh = impl_->Connect(options_.connect_timeout);
      if (!fresh.ok()) return fresh.status();
      conn = *std::move(fresh);
    }
    absl::Status wrote = conn->Write(request);
    r.emplace(conn.get(), nullptr, options_.call_timeout);
    absl::Status head = wrote.ok() ? r->ReadHead() : wrote;
    if (head.ok()) break;
    if (!reused || attempt > 0 || r->received_any()) return head;
    conn.reset();  // the kept connection had gone stale: once more, fresh
  }
  std::string text;
  absl::Status read = r->ReadBody([&](absl::string_view d) {
    text.append(d.data(), d.size());
    return text.size() < (64u << 20);
  });
  if (!read.ok()) return read;
  auto connection = r->headers.find("connection");
  if (r->delimited() && r->buffered().empty() &&
      (connection == r->headers.end() || absl::AsciiStrToLower(connection->second) != "close")) {
    impl_->GiveBack(std::move(conn));
  }
  if (r->status < 200 || r->status > 299) return StatusFromKube(r->status, text);
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return absl::UnavailableError(absl::StrCat("the API server's answer to ", path, " is not JSON"));
  return doc;
}

absl::Status KubeClient::Stream(const std::string& path, const std::function<bool(absl::string_view)>& on_data,
                                const std::atomic<bool>* cancel) const {
  auto conn = impl_->Connect(options_.connect_timeout);
  if (!conn.ok()) return conn.status();
  absl::Status wrote = (*conn)->Write(RequestHead("GET", path, impl_->host_header, access_, "Connection: close\r\n"));
  if (!wrote.ok()) return wrote;
  // A followed log may be quiet for hours: no deadline on the body.
  ResponseReader r(conn->get(), cancel, options_.call_timeout);
  absl::Status head = r.ReadHead();
  if (!head.ok()) return head;
  if (r.status < 200 || r.status > 299) {
    std::string text;
    r.ReadBody([&](absl::string_view d) { text.append(d.data(), d.size()); return text.size() < 65536; }).IgnoreError();
    return StatusFromKube(r.status, text);
  }
  ResponseReader body(conn->get(), cancel, absl::InfiniteDuration());
  body.status = r.status;
  body.headers = r.headers;
  body.buffered() = std::move(r.buffered());
  absl::Status s = body.ReadBody(on_data);
  if (absl::IsCancelled(s)) return absl::OkStatus();
  return s;
}

namespace {

// Exec over WebSocket: each message is a channel byte and data.
class WsExec : public ExecSession {
 public:
  WsExec(std::unique_ptr<Conn> conn, std::string buffered, bool v5,
         std::function<void(int, absl::string_view)> on_output)
      : conn_(std::move(conn)), in_(std::move(buffered)), v5_(v5), on_output_(std::move(on_output)) {}

  absl::Status SendStdin(absl::string_view data) override { return Send(0, data); }
  absl::Status CloseStdin() override {
    if (!v5_) return absl::OkStatus();  // v4 has no way to say it
    return Send(255, std::string(1, '\0'));
  }
  absl::Status Resize(int width, int height) override {
    return Send(4, json{{"Width", width}, {"Height", height}}.dump());
  }
  void Cancel() override {
    cancelled_ = true;
    conn_->Shutdown();
  }

  absl::StatusOr<int> Wait() override {
    std::string message;
    for (;;) {
      uint8_t op = 0;
      absl::Status got = ReadFrame(&op, &message);
      if (cancelled_) return absl::CancelledError("exec cancelled");
      if (!got.ok()) {
        if (status_.has_value()) break;
        return absl::UnavailableError(absl::StrCat("the exec stream ended before its status: ", got.message()));
      }
      if (op == 8) break;  // close
      if (op == 9) {
        WriteFrame(10, message).IgnoreError();
        continue;
      }
      if (op != 1 && op != 2) continue;
      if (message.empty()) continue;
      const int channel = static_cast<uint8_t>(message[0]);
      absl::string_view data = absl::string_view(message).substr(1);
      if (channel == 1 || channel == 2) {
        if (on_output_) on_output_(channel, data);
      } else if (channel == 3) {
        status_ = std::string(data);
      }
    }
    if (!status_.has_value()) return absl::UnavailableError("the exec stream closed without the command's status");
    json st = json::parse(*status_, nullptr, false);
    if (!st.is_object()) return absl::UnavailableError("the exec status is not JSON");
    if (st.value("status", "") == "Success") return 0;
    if (st.value("reason", "") == "NonZeroExitCode" && st.contains("details")) {
      for (const json& c : st["details"].value("causes", json::array())) {
        int code = 0;
        if (c.value("reason", "") == "ExitCode" && absl::SimpleAtoi(c.value("message", ""), &code)) return code;
      }
    }
    return absl::FailedPreconditionError(st.value("message", "the exec failed"));
  }

 private:
  absl::Status Send(int channel, absl::string_view data) {
    std::string payload(1, static_cast<char>(channel));
    payload.append(data.data(), data.size());
    return WriteFrame(2, payload);
  }

  absl::Status WriteFrame(uint8_t op, absl::string_view payload) {
    std::string frame(1, static_cast<char>(0x80 | op));
    const size_t n = payload.size();
    if (n < 126) {
      frame.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>(n >> 8));
      frame.push_back(static_cast<char>(n & 0xff));
    } else {
      frame.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff));
    }
    unsigned char mask[4];
    RAND_bytes(mask, 4);
    frame.append(reinterpret_cast<char*>(mask), 4);
    for (size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return conn_->Write(frame);
  }

  absl::Status Need(size_t n) {
    char tmp[65536];
    while (in_.size() < n) {
      ssize_t got = conn_->Read(tmp, sizeof tmp, absl::Milliseconds(200));
      if (cancelled_) return absl::CancelledError("exec cancelled");
      if (got > 0) in_.append(tmp, static_cast<size_t>(got));
      else if (got == 0) return absl::OutOfRangeError("closed");
      else if (got == -1) return absl::UnavailableError("the connection broke");
    }
    return absl::OkStatus();
  }

  absl::Status ReadFrame(uint8_t* op, std::string* out) {
    out->clear();
    for (;;) {
      absl::Status s = Need(2);
      if (!s.ok()) return s;
      const uint8_t b0 = static_cast<uint8_t>(in_[0]), b1 = static_cast<uint8_t>(in_[1]);
      size_t header = 2;
      uint64_t n = b1 & 0x7f;
      if (n == 126) {
        if (!(s = Need(4)).ok()) return s;
        n = (static_cast<uint64_t>(static_cast<uint8_t>(in_[2])) << 8) | static_cast<uint8_t>(in_[3]);
        header = 4;
      } else if (n == 127) {
        if (!(s = Need(10)).ok()) return s;
        n = 0;
        for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<uint8_t>(in_[2 + i]);
        header = 10;
      }
      if (n > (64u << 20)) return absl::UnavailableError("a WebSocket frame over 64 MiB");
      const bool masked = (b1 & 0x80) != 0;
      const size_t total = header + (masked ? 4 : 0) + static_cast<size_t>(n);
      if (!(s = Need(total)).ok()) return s;
      std::string payload = in_.substr(header + (masked ? 4 : 0), static_cast<size_t>(n));
      if (masked) {
        for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ in_[header + (i % 4)]);
      }
      in_.erase(0, total);
      const uint8_t code = b0 & 0x0f;
      if (code != 0) *op = code;
      out->append(payload);
      if (b0 & 0x80) return absl::OkStatus();  // FIN
    }
  }

  std::unique_ptr<Conn> conn_;
  std::string in_;
  const bool v5_;
  std::function<void(int, absl::string_view)> on_output_;
  std::optional<std::string> status_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<ExecSession>> KubeClient::StartExec(
    const std::string& path, std::function<void(int channel, absl::string_view data)> on_output) const {
  auto conn = impl_->Connect(options_.connect_timeout);
  if (!conn.ok()) return conn.status();
  unsigned char nonce[16];
  RAND_bytes(nonce, sizeof nonce);
  const std::string key = absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
  absl::Status wrote = (*conn)->Write(RequestHead(
      "GET", path, impl_->host_header, access_,
      absl::StrCat("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ", key,
                   "\r\nSec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n")));
  if (!wrote.ok()) return wrote;
  ResponseReader r(conn->get(), nullptr, options_.call_timeout);
  absl::Status head = r.ReadHead();
  if (!head.ok()) return head;
  if (r.status != 101) {
    std::string text;
    r.ReadBody([&](absl::string_view d) { text.append(d.data(), d.size()); return text.size() < 65536; }).IgnoreError();
    return StatusFromKube(r.status, text);
  }
  unsigned char digest[SHA_DIGEST_LENGTH];
  const std::string expect_src = key + "258EAFA5-E914-47DA-95CA-C5AB0DC11B85";
  SHA1(reinterpret_cast<const unsigned char*>(expect_src.data()), expect_src.size(), digest);
  const std::string expect = absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(digest), sizeof digest));
  if (r.headers["sec-websocket-accept"] != expect) {
    return absl::UnavailableError("the API server's WebSocket handshake does not match the key sent");
  }
  const std::string protocol = r.headers["sec-websocket-protocol"];
  if (protocol != "v5.channel.k8s.io" && protocol != "v4.channel.k8s.io") {
    return absl::UnavailableError(absl::StrCat("the API server chose no exec protocol plinth speaks (\"", protocol, "\")"));
  }
  (*conn)->SetTimeout(absl::Hours(24));  // an interactive shell may idle
  return std::unique_ptr<ExecSession>(
      new WsExec(std::move(*conn), std::move(r.buffered()), protocol == "v5.channel.k8s.io", std::move(on_output)));
}

}  // namespace plinth::cloudops
