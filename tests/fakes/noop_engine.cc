// plinth-noop-engine: a SIMULATED Terraform that does nothing, for measuring
// plinth's own per-job overhead (bench/job_bench). Every step succeeds at
// once; `plan` reports no changes. With a file noop.json in the module
// ({"print_bytes": N, "line_bytes": W}), `plan` first prints N bytes of
// output in lines of W bytes (default 100).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "plan") {
    long long total = 0, width = 100;
    if (FILE* f = std::fopen("noop.json", "r")) {
      char buf[256] = {0};
      size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
      std::fclose(f);
      buf[n] = 0;
      if (const char* p = std::strstr(buf, "\"print_bytes\":")) total = std::atoll(p + 14);
      if (const char* p = std::strstr(buf, "\"line_bytes\":")) width = std::atoll(p + 13);
    }
    if (total > 0) {
      std::string line(width - 1, 'x');
      line.push_back('\n');
      std::vector<char> buf;
      for (int i = 0; i < 4096 / width + 1; ++i) buf.insert(buf.end(), line.begin(), line.end());
      for (long long written = 0; written < total; written += buf.size()) fwrite(buf.data(), 1, buf.size(), stdout);
    }
    std::puts("{\"@level\":\"info\",\"@message\":\"Plan: 0 to add, 0 to change, 0 to destroy.\",\"type\":\"change_summary\","
              "\"changes\":{\"add\":0,\"change\":0,\"remove\":0,\"operation\":\"plan\"}}");
    return 0;  // -detailed-exitcode: no changes
  }
  if (cmd == "show") {
    std::puts("{\"format_version\":\"1.2\",\"resource_changes\":[]}");
    return 0;
  }
  if (cmd == "output") {
    std::puts("{}");
    return 0;
  }
  return 0;  // init, apply, version
}
