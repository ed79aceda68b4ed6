#include "datadir.h"
#include "bb_crypto.h"
#include "bb_err.h"
#include "bb_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int bb_datadir_prepare(const char *dir, char *err, size_t errcap)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        snprintf(err, errcap, "data directory path too long");
        return BB_EINVAL;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0711) != 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(path, 0711) != 0 && errno != EEXIST) goto fail;
    struct stat st;
    if (stat(path, &st) != 0) goto fail;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        goto fail;
    }
    if (access(path, W_OK | X_OK) != 0) goto fail;
    return 0;
fail:
    snprintf(err, errcap, "data directory %s is not usable: %s (at %s)", dir, strerror(errno),
             path);
    return BB_EIO;
}

int bb_datadir_lock(const char *dir, int *fd_out, char *err, size_t errcap)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/bunbased.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return BB_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0) pid[n] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errcap, "data directory %s is in use by another bunbased (pid %s)", dir,
                 pid[0] ? pid : "unknown");
        close(fd);
        return BB_EBUSY;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return BB_EIO;
    }
    *fd_out = fd;
    return 0;
}

void bb_datadir_unlock(int fd)
{
    if (fd >= 0) close(fd);
}

int bb_datadir_internal_token(const char *dir, const char *configured, char *token, size_t cap,
                              char *err, size_t errcap)
{
    if (configured && configured[0]) {
        if (strlen(configured) >= cap) {
            snprintf(err, errcap, "BUNBASE_INTERNAL_TOKEN too long");
            return BB_EINVAL;
        }
        /* one rule for the variable and the file: a short token is guessable */
        if (strlen(configured) < BB_INTERNAL_TOKEN_MIN) {
            snprintf(err, errcap,
                     "BUNBASE_INTERNAL_TOKEN is too short: %zu characters, at least %d needed",
                     strlen(configured), BB_INTERNAL_TOKEN_MIN);
            return BB_EINVAL;
        }
        snprintf(token, cap, "%s", configured);
        return 0;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/internal_token", dir);
    FILE *f = fopen(path, "re");
    if (f) {
        char *ok = fgets(token, (int)cap, f);
        fclose(f);
        if (ok) token[strcspn(token, "\r\n")] = '\0';
        if (ok && strlen(token) >= BB_INTERNAL_TOKEN_MIN) return 0;
        snprintf(err, errcap, "%s is malformed (expected a token of at least %d characters)", path,
                 BB_INTERNAL_TOKEN_MIN);
        return BB_EINVAL;
    }
    if (bb_random_token(token, cap, 32) != 0) {
        snprintf(err, errcap, "cannot generate the internal token");
        return BB_EIO;
    }
    char line[300];
    int n = snprintf(line, sizeof line, "%s\n", token);
    int rc = n > 0 && (size_t)n < sizeof line ? bb_fs_write_atomic(path, line, (size_t)n, 0600)
                                              : BB_EINVAL;
    explicit_bzero(line, sizeof line);
    if (rc != 0) goto fail;
    return 0;
fail:
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    return BB_EIO;
}
