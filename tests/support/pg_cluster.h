// A throw-away PostgreSQL cluster for tests, from Debian's postgresql
// package: initdb in a temp dir, pg_ctl start on a free loopback port (no
// system service, no Unix socket outside the dir), trust auth for the user
// "plinth". As root, the server runs as the unprivileged "postgres" user
// (initdb refuses root). Stopped and removed when the object goes.
//
//   PgCluster* pg = PgCluster::Shared();
//   std::string url = pg->NewDatabase();         // postgres://plinth@127.0.0.1:PORT/t_1234_3
//
// Under ctest every test is a process of its own, so the cluster is started
// once for all of them (tests/support/pg_cluster.sh, a ctest fixture) and
// named by PLINTH_TEST_PG_PORT; run by hand, a test binary starts its own.
//
// Header-only; uses popen for the few commands it runs.
#ifndef PLINTH_TESTS_SUPPORT_PG_CLUSTER_H_
#define PLINTH_TESTS_SUPPORT_PG_CLUSTER_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

namespace plinth::testing {

class PgCluster {
 public:
  // The binary dir of the newest installed PostgreSQL ("" when none).
  static std::string BinDir() {
    std::string best;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      std::string bin = e.path().string() + "/bin";
      if (std::filesystem::exists(bin + "/initdb") && bin > best) best = bin;
    }
    return best;
  }

  // Starts one; nullptr (with `why`) when it cannot.
  static std::unique_ptr<PgCluster> Start(std::string* why, bool fsync = false) {
    std::unique_ptr<PgCluster> c(new PgCluster());
    c->bin_ = BinDir();
    if (c->bin_.empty()) {
      *why = "no PostgreSQL server installed (Debian package postgresql)";
      return nullptr;
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "plinth-pg-XXXXXX").string();
    c->dir_ = mkdtemp(tmpl.data());
    c->as_ = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (!c->as_.empty() && !Run("chown postgres " + c->dir_, why)) return nullptr;
    c->port_ = FreePort();
    if (!Run(c->as_ + c->bin_ + "/initdb -D " + c->dir_ + "/data -U plinth -A trust -E UTF8 --no-sync", why)) {
      return nullptr;
    }
    c->fsync_ = fsync;
    if (!c->StartServer(why)) return nullptr;
    return c;
  }

  // The ctest fixture's cluster, or one for this process (started on first
  // use, stopped at exit).
  static PgCluster* Shared() {
    static std::string why;
    static std::unique_ptr<PgCluster> shared = [] {
      if (const char* port = std::getenv("PLINTH_TEST_PG_PORT"); port != nullptr && *port != 0) {
        std::unique_ptr<PgCluster> c(new PgCluster());
        c->port_ = std::atoi(port);
        c->external_ = true;
        return c;
      }
      return Start(&why);
    }();
    if (shared == nullptr) fprintf(stderr, "PgCluster: %s\n", why.c_str());
    return shared.get();
  }

  ~PgCluster() {
    if (external_) return;
    std::string ignored;
    Run(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop", &ignored);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  std::string Url(const std::string& database) const {
    return "postgres://plinth@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

  // A new, empty database.
  std::string NewDatabase() {
    std::string name = "t_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
    std::string why;
    if (!Psql("CREATE DATABASE " + name, &why)) fprintf(stderr, "PgCluster: %s\n", why.c_str());
    return Url(name);
  }

  bool Psql(const std::string& sql, std::string* out) {
    return Run("psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(port_) +
                   " -U plinth -d postgres -tA -c \"" + sql + "\"",
               out);
  }

  // Stops the server at once (as a crash would) and starts it again.
  bool Stop(std::string* why) { return Run(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop", why); }
  bool StartServer(std::string* why) {
    return Run(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -t 60 -o \"-p " +
                   std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=127.0.0.1" +
                   (fsync_ ? "" : " -c fsync=off -c synchronous_commit=off") + " -c max_connections=200\" start",
               why);
  }

 private:
  PgCluster() = default;

  static bool Run(const std::string& command, std::string* out) {
    out->clear();
    // From /: the server's user may not enter the test's working directory.
    FILE* p = popen(("cd / && " + command + " 2>&1").c_str(), "r");
    char buf[512];
    while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) *out += buf;
    int rc = p != nullptr ? pclose(p) : -1;
    if (rc != 0) *out = command + ": " + *out;
    return rc == 0;
  }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
  }

  std::string bin_, dir_, as_;
  int port_ = 0;
  bool fsync_ = false;
  bool external_ = false;
  std::atomic<int> databases_{0};
};

}  // namespace plinth::testing

#endif  // PLINTH_TESTS_SUPPORT_PG_CLUSTER_H_
