// The recording reader (JSON Lines, optionally zstd) over arbitrary file
// contents, read through a memfd so the real open/detect/stream path runs.
// Promises checked (marketdata/recording.h): reading ends (end of file or an
// error), an error names the file, and a content error its line; every
// record it returns has a known type and a line number that only grows.
// ReadRawFrames over the same file: frames numbered 1, 2, ... per conn.
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fuzz_target.h"
#include "marketdata/recording.h"

namespace sa::fuzz {
namespace {

class MemFile {
 public:
  MemFile() : fd_(memfd_create("fuzz-recording", 0)), path_(absl::StrCat("/proc/self/fd/", fd_)) {
    if (fd_ < 0) std::abort();
  }
  ~MemFile() { close(fd_); }
  const std::string& Write(std::string_view data) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    if (pwrite(fd_, data.data(), data.size(), 0) != static_cast<ssize_t>(data.size())) std::abort();
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace
}  // namespace sa::fuzz

SA_FUZZ_TARGET(recording) {
  using namespace sa;
  static fuzz::MemFile file;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string& path = file.Write(input);

  auto reader = md::RecordingReader::Open(path);
  if (!reader.ok()) fuzz::Broken("recording", "a readable file does not open", input, reader.status().ToString());
  md::RecordingRecord rec;
  int64_t last_line = 0;
  for (int n = 0;; ++n) {
    auto more = (*reader)->Next(&rec);
    if (!more.ok()) {
      if (!absl::StrContains(more.status().message(), path))
        fuzz::Broken("recording", "a read error does not name the file", input, more.status().ToString());
      break;
    }
    if (!*more) break;
    if (rec.line <= last_line)
      fuzz::Broken("recording", "record line numbers do not grow", input, absl::StrCat(rec.line, " after ", last_line));
    last_line = rec.line;
    if (n > (1 << 20)) fuzz::Broken("recording", "the reader does not end", input);
  }

  auto frames = md::ReadRawFrames(path, "kraken");
  if (frames.ok()) {
    std::map<std::string, uint64_t> seq;
    for (const auto& f : *frames) {
      if (f.frame_seq != ++seq[f.conn])
        fuzz::Broken("recording", "raw frames are not numbered 1, 2, ... per conn", input,
                     absl::StrCat(f.conn, " frame_seq ", f.frame_seq));
    }
  }
}
