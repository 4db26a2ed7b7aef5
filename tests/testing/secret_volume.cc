#include "tests/testing/secret_volume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace sasmint::testing {

void WriteInPlace(const std::string& path, const std::string& contents) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
  ASSERT_EQ(close(fd), 0);
}

void FakeSecretVolume::Update(const std::map<std::string, std::string>& payload) {
  ++version_;
  const std::string ts = absl::StrFormat("..2026_11_28_19_%02d_00.%09d", version_, version_);
  ASSERT_EQ(mkdir((dir_ + "/" + ts).c_str(), 0755), 0);
  for (const auto& [name, contents] : payload) WriteInPlace(dir_ + "/" + ts + "/" + name, contents);
  const std::string tmp_link = dir_ + "/..data_tmp";
  ASSERT_EQ(symlink(ts.c_str(), tmp_link.c_str()), 0);
  ASSERT_EQ(rename(tmp_link.c_str(), (dir_ + "/..data").c_str()), 0);
  for (const auto& [name, contents] : payload) {
    if (visible_.insert(name).second) {
      ASSERT_EQ(symlink(("..data/" + name).c_str(), (dir_ + "/" + name).c_str()), 0);
    }
  }
  for (auto it = visible_.begin(); it != visible_.end();) {
    if (payload.contains(*it)) {
      ++it;
      continue;
    }
    ASSERT_EQ(unlink((dir_ + "/" + *it).c_str()), 0);
    it = visible_.erase(it);
  }
  if (!current_ts_.empty() && !keep_old_) std::filesystem::remove_all(dir_ + "/" + current_ts_);
  current_ts_ = ts;
}

}  // namespace sasmint::testing
