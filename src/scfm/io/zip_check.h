// What a torch.save archive may be before LibTorch's zip reader sees it.
//
// torch.save writes a plain zip: every record STORED (no compression), sizes in the central
// directory (zip64 extra fields beyond 4 GiB). LibTorch's reader (miniz) would allocate whatever
// size a record claims and inflate whatever it is given, so a 40-byte file can ask for terabytes
// (a zip bomb). check_torch_zip reads the end-of-central-directory record and every central
// directory entry and refuses, naming the file and the record:
//   - a compressed record (method != 0), or one whose compressed and uncompressed sizes differ;
//   - a record (local header + data) reaching past the end of the file, or a directory that does;
//   - more than 1,000,000 records, names with "..", absolute paths or NUL bytes.
// It reads only the directory (O(records)), never the data.
#pragma once

#include <string>

namespace scfm::io {

// Throws scfm::FormatError(path, record or "zip", what).
void check_torch_zip(const std::string& path);
// The same on bytes in memory (the fuzzing harness).
void check_torch_zip_bytes(const unsigned char* data, size_t size, const std::string& name);

}  // namespace scfm::io
