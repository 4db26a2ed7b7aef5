// secret_volume.h: a directory laid out and updated exactly as the kubelet's AtomicWriter does
// for a Secret or ConfigMap volume, for tests of code that watches or reads mounted files:
//   dir/..2026_11_28_19_00_00.000000001/<file>   the payload, one timestamped dir per version
//   dir/..data -> ..2026_11_28_19_00_00.000000001
//   dir/<file> -> ..data/<file>                  what the pod's container reads
// Update: write the new timestamped dir, symlink ..data_tmp to it, rename ..data_tmp over ..data
// (the atomic switch), add visible symlinks for new files, remove visible symlinks of files no
// longer in the payload, then delete the old timestamped dir.
//
// Not thread-safe; failures are gtest failures of the calling test.
#ifndef SASMINT_TESTS_TESTING_SECRET_VOLUME_H_
#define SASMINT_TESTS_TESTING_SECRET_VOLUME_H_

#include <map>
#include <set>
#include <string>

namespace sasmint::testing {

// WriteInPlace truncates and rewrites the existing inode (IN_CLOSE_WRITE), or creates the file.
void WriteInPlace(const std::string& path, const std::string& contents);

class FakeSecretVolume {
 public:
  // `dir` must exist.
  explicit FakeSecretVolume(std::string dir) : dir_(std::move(dir)) {}

  // KeepOldVersions leaves old timestamped dirs in place, so that the `..data` rename is the
  // only event a watcher can see.
  void KeepOldVersions() { keep_old_ = true; }

  // Update publishes `payload` (file name -> contents) as the volume's next version.
  void Update(const std::map<std::string, std::string>& payload);

 private:
  const std::string dir_;
  int version_ = 0;
  std::string current_ts_;
  std::set<std::string> visible_;
  bool keep_old_ = false;
};

}  // namespace sasmint::testing

#endif  // SASMINT_TESTS_TESTING_SECRET_VOLUME_H_
