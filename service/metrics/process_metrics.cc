#include "service/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "service/metrics/families.h"

namespace sasmint {
namespace {

// BootTimeSeconds returns the system's boot time (btime in /proc/stat), or 0.
double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

}  // namespace

void CollectProcessMetrics(std::vector<prometheus::MetricFamily>& out) {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the
  // last ')'.
  const size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(stat.substr(close + 2));
    std::string f[22];
    for (std::string& v : f) fields >> v;
    // Fields 3.. of proc(5): f[0] is field 3 (state), utime 14, stime 15, starttime 22,
    // vsize 23, rss 24.
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    if (!fields.fail() && ticks > 0) {
      const double utime = std::stod(f[11]);
      const double stime = std::stod(f[12]);
      prometheus::MetricFamily cpu =
          Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                 prometheus::MetricType::Counter);
      AddValue(cpu, {}, (utime + stime) / ticks);
      out.push_back(std::move(cpu));
      const double boot = BootTimeSeconds();
      if (boot > 0) {
        AddGauge(out, "process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.",
                 boot + std::stod(f[19]) / ticks);
      }
      AddGauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
               std::stod(f[20]));
      AddGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
               std::stod(f[21]) * page);
    }
  }
  if (const int fds = OpenFds(); fds >= 0) {
    AddGauge(out, "process_open_fds", "Number of open file descriptors.", fds);
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    AddGauge(out, "process_max_fds", "Maximum number of open file descriptors.",
             static_cast<double>(limit.rlim_cur));
  }
}

}  // namespace sasmint
