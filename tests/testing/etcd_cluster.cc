#include "tests/testing/etcd_cluster.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sasmint::testing {
namespace {

// FreePort asks the kernel for an unused loopback port. Another process may take it before etcd
// binds it; the ports come from the ephemeral range, where that is rare.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    abort();
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool Connects(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::string EtcdBinary() {
  if (const char* env = std::getenv("SASMINT_ETCD"); env != nullptr && *env != '\0') return env;
  return access("/usr/bin/etcd", X_OK) == 0 ? "/usr/bin/etcd" : "";
}

absl::StatusOr<EtcdCluster> EtcdCluster::Start(int members, absl::Duration timeout) {
  if (EtcdBinary().empty()) return absl::FailedPreconditionError("etcd is not installed");
  EtcdCluster cluster;
  cluster.dir_ = MakeTempDir();
  std::vector<std::string> peers;
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = absl::StrCat("m", i);
    m.client_port = FreePort();
    m.peer_port = FreePort();
    m.data_dir = absl::StrCat(cluster.dir_, "/", m.name);
    peers.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
    cluster.members_.push_back(std::move(m));
  }
  cluster.initial_cluster_ = absl::StrJoin(peers, ",");
  for (int i = 0; i < members; ++i) {
    if (absl::Status s = cluster.Launch(i, /*existing=*/false); !s.ok()) return s;
  }
  for (int i = 0; i < members; ++i) {
    if (absl::Status s = cluster.AwaitServing(i, timeout); !s.ok()) return s;
  }
  return cluster;
}

EtcdCluster::~EtcdCluster() {
  for (Member& m : members_) {
    if (m.process) {
      m.process->Signal(SIGKILL);
      m.process->Wait(absl::Seconds(10)).IgnoreError();
    }
  }
  if (!dir_.empty()) {
    RunProcess({"/bin/rm", "-rf", dir_}).IgnoreError();
  }
}

absl::Status EtcdCluster::Launch(int i, bool existing) {
  Member& m = members_[i];
  const std::string client = absl::StrCat("http://127.0.0.1:", m.client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", m.peer_port);
  std::vector<std::string> argv = {EtcdBinary(),
                                   "--name",
                                   m.name,
                                   "--data-dir",
                                   m.data_dir,
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   initial_cluster_,
                                   "--initial-cluster-token",
                                   "sasmint-test",
                                   "--initial-cluster-state",
                                   existing ? "existing" : "new",
                                   "--heartbeat-interval",
                                   "50",
                                   "--election-timeout",
                                   "500",
                                   "--logger",
                                   "zap",
                                   "--log-level",
                                   "warn"};
  const std::string log_dir = absl::StrCat(dir_, "/", m.name, "-log");
  mkdir(log_dir.c_str(), 0700);  // exists already on a restart
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv, log_dir);
  if (!child.ok()) return child.status();
  m.process.emplace(*std::move(child));
  return absl::OkStatus();
}

absl::Status EtcdCluster::AwaitServing(int i, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (Connects(members_[i].client_port)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::UnavailableError(absl::StrCat("etcd member ", i, " did not start:\n", Logs()));
}

std::string EtcdCluster::endpoint(int i) const {
  return absl::StrCat("127.0.0.1:", members_[i].client_port);
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::string EtcdCluster::data_dir(int i) const { return members_[i].data_dir; }

void EtcdCluster::Kill(int i) {
  Member& m = members_[i];
  if (!m.process) return;
  m.process->Signal(SIGKILL);
  m.process->Wait(absl::Seconds(10)).IgnoreError();
  m.process.reset();
}

absl::Status EtcdCluster::Restart(int i, absl::Duration timeout) {
  if (members_[i].process) return absl::OkStatus();
  if (absl::Status s = Launch(i, /*existing=*/true); !s.ok()) return s;
  return AwaitServing(i, timeout);
}

absl::StatusOr<int> EtcdCluster::Leader() const {
  for (int i = 0; i < size(); ++i) {
    if (!members_[i].process) continue;
    absl::StatusOr<ProcessResult> r = RunProcess({"/usr/bin/etcdctl", "--endpoints", endpoint(i),
                                                  "endpoint", "status", "--write-out", "fields"},
                                                 absl::Seconds(5));
    if (!r.ok() || r->exit_code != 0) continue;
    std::string member_id, leader;
    for (absl::string_view line : absl::StrSplit(r->out, '\n')) {
      if (absl::StartsWith(line, "\"MemberID\" : ")) member_id = std::string(line.substr(13));
      if (absl::StartsWith(line, "\"Leader\" : ")) leader = std::string(line.substr(11));
    }
    if (!member_id.empty() && member_id == leader) return i;
  }
  return absl::NotFoundError("no etcd member says it leads");
}

std::string EtcdCluster::Logs() const {
  std::string out;
  for (const Member& m : members_) {
    if (m.process) absl::StrAppend(&out, "--- ", m.name, " ---\n", m.process->ReadStderr());
  }
  return out;
}

}  // namespace sasmint::testing
