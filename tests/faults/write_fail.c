// LD_PRELOAD write-failure injector for the disk-full tests (issue 17; tests/faults/README.md).
//
// Counts the writes a process makes to regular files (write, pwrite, pwrite64, writev, pwritev,
// fallocate; stdio and iostreams end in these) and fails the N-th one, as a full disk would:
//   SCFM_FAIL_WRITE_AT=N       the N-th write (1-based) fails; 0 or unset: none fails
//   SCFM_FAIL_WRITE_MODE=full  (default) that one and every later write fail with ENOSPC
//                        once  only that one fails, with EIO (a transient I/O error)
//   SCFM_FAIL_WRITE_TRACE=F    keeps the count of writes so far in file F (8 bytes, little endian),
//                              so a clean run tells how many points there are to fail
// Writes to pipes, terminals and sockets are not counted (stderr must still reach the user). The
// count is per process and carries over fork(); exec starts it again.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static long long fail_at = -1;  // -1: not read yet
static int mode_once = 0;
static int trace_fd = -1;
static long long count = 0;

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void*, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);

static void setup(void) {
  if (fail_at >= 0) return;
  real_write = dlsym(RTLD_NEXT, "write");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite");
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_pwritev = dlsym(RTLD_NEXT, "pwritev");
  real_fallocate = dlsym(RTLD_NEXT, "fallocate");
  const char* at = getenv("SCFM_FAIL_WRITE_AT");
  const char* mode = getenv("SCFM_FAIL_WRITE_MODE");
  const char* trace = getenv("SCFM_FAIL_WRITE_TRACE");
  mode_once = mode && strcmp(mode, "once") == 0;
  if (trace && *trace) trace_fd = open(trace, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  fail_at = at ? atoll(at) : 0;
}

// 0: let the write through; otherwise the errno to fail it with.
static int judge(int fd) {
  setup();
  if (fd == trace_fd) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  ++count;
  if (trace_fd >= 0) {
    uint64_t c = (uint64_t)count;
    real_pwrite(trace_fd, &c, sizeof c, 0);
  }
  if (fail_at <= 0) return 0;
  if (mode_once) return count == fail_at ? EIO : 0;
  return count >= fail_at ? ENOSPC : 0;
}

ssize_t write(int fd, const void* buf, size_t n) {
  int e = judge(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  int e = judge(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  int e = judge(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  int e = judge(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  int e = judge(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return real_pwritev(fd, iov, cnt, off);
}

int fallocate(int fd, int mode, off_t off, off_t len) {
  int e = judge(fd);
  if (e) {
    errno = e;
    return -1;
  }
  return real_fallocate(fd, mode, off, len);
}
