/* fn_bundle.c — a tarball bundle (.tar.gz or .tar) extracted safely into a directory.
 *
 * libarchive reads the archive from memory. Every entry is checked before anything is written:
 * a relative path without "..", "." or empty components (a leading "./" is allowed), at most
 * FN_BUNDLE_MAX_DEPTH levels; only regular files and directories (no symbolic or hard links,
 * devices, FIFOs or sockets); at most max_files entries and max_bytes of file data in all, counted
 * from the data actually read (never the header's size). Files are created with O_EXCL|O_NOFOLLOW
 * (0600) under the destination, directories 0700: nothing outside it is ever touched.
 *
 * fn_bundle_share then opens a checked version directory to the workers' user (fn_sandbox.c):
 * directories 0755, files 0644 — only there; every other path of the data directory stays
 * bunbased's alone, and the worker reaches this one only through the descriptor bunbased opened. */
#include "fn_internal.h"
#include "bb_err.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FN_BUNDLE_MAX_DEPTH 16

/* 0 with the cleaned path in out (no leading "./", no trailing "/"), else -1. */
static int clean_path(const char *p, char *out, size_t cap)
{
    if (!p || !*p || p[0] == '/') return -1;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    size_t n = strlen(p);
    while (n && p[n - 1] == '/')
        n--;
    if (n == 0 || n >= cap) return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    int depth = 0;
    for (char *c = out;;) {
        char *e = strchr(c, '/');
        size_t cl = e ? (size_t)(e - c) : strlen(c);
        if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
            return -1;
        if (++depth > FN_BUNDLE_MAX_DEPTH) return -1;
        if (!e) break;
        c = e + 1;
    }
    return 0;
}

/* mkdir -p of rel's parent directories under root (each 0700, never following a link). */
static int make_parents(const char *root, const char *rel)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", root, rel);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    size_t rl = strlen(root) + 1;
    for (char *c = path + rl; (c = strchr(c, '/')) != NULL; c++) {
        *c = '\0';
        struct stat st;
        if (mkdir(path, 0700) != 0 && (errno != EEXIST || lstat(path, &st) != 0 ||
                                       !S_ISDIR(st.st_mode)))
            return -1;
        *c = '/';
    }
    return 0;
}

int fn_bundle_extract(const void *data, size_t len, const char *root, uint64_t max_files,
                      uint64_t max_bytes, char *msg, size_t cap)
{
    struct archive *a = archive_read_new();
    if (!a) {
        snprintf(msg, cap, "out of memory");
        return BB_ENOMEM;
    }
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    int rc = BB_EINVAL;
    uint64_t files = 0, total = 0;
    if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
        snprintf(msg, cap, "not a tar archive (gzip-compressed or not): %s",
                 archive_error_string(a) ? archive_error_string(a) : "unreadable");
        goto out;
    }
    struct archive_entry *e;
    int r;
    char rel[1024], path[4096];
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (++files > max_files) {
            snprintf(msg, cap, "the tarball has more than %llu entries "
                               "(BUNBASE_FUNCTIONS_BUNDLE_MAX_FILES)",
                     (unsigned long long)max_files);
            goto out;
        }
        if (clean_path(name, rel, sizeof rel) != 0) {
            if (name && (!strcmp(name, "./") || !strcmp(name, "."))) continue; /* the root */
            snprintf(msg, cap, "unsafe path in the tarball: \"%.200s\" (absolute, \"..\" or empty "
                               "components are refused)", name ? name : "");
            goto out;
        }
        mode_t t = archive_entry_filetype(e);
        if (archive_entry_hardlink(e) || t == AE_IFLNK) {
            snprintf(msg, cap, "link in the tarball: \"%.200s\" (links are refused)", rel);
            goto out;
        }
        if (t != AE_IFREG && t != AE_IFDIR) {
            snprintf(msg, cap, "\"%.200s\" is not a regular file or directory (devices, FIFOs "
                               "and sockets are refused)", rel);
            goto out;
        }
        if (make_parents(root, rel) != 0) {
            snprintf(msg, cap, "cannot create the directories of \"%.200s\"", rel);
            goto out;
        }
        snprintf(path, sizeof path, "%s/%s", root, rel);
        if (t == AE_IFDIR) {
            struct stat st;
            if (mkdir(path, 0700) != 0 &&
                (errno != EEXIST || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
                snprintf(msg, cap, "cannot create the directory \"%.200s\"", rel);
                goto out;
            }
            continue;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(msg, cap, "cannot create \"%.200s\"%s", rel,
                     errno == EEXIST ? " (twice in the tarball)" : "");
            goto out;
        }
        char buf[65536];
        la_ssize_t k;
        while ((k = archive_read_data(a, buf, sizeof buf)) > 0) {
            total += (uint64_t)k;
            if (total > max_bytes) {
                close(fd);
                snprintf(msg, cap, "the tarball's files are over %llu bytes "
                                   "(BUNBASE_FUNCTIONS_BUNDLE_MAX_UNPACKED_BYTES)",
                         (unsigned long long)max_bytes);
                goto out;
            }
            if (write(fd, buf, (size_t)k) != k) {
                close(fd);
                snprintf(msg, cap, "cannot write \"%.200s\"", rel);
                rc = BB_EIO;
                goto out;
            }
        }
        close(fd);
        if (k < 0) {
            snprintf(msg, cap, "the tarball is corrupt at \"%.200s\": %s", rel,
                     archive_error_string(a) ? archive_error_string(a) : "read error");
            goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        snprintf(msg, cap, "the tarball is corrupt: %s",
                 archive_error_string(a) ? archive_error_string(a) : "read error");
        goto out;
    }
    if (files == 0) {
        snprintf(msg, cap, "the tarball is empty");
        goto out;
    }
    rc = 0;
out:
    archive_read_free(a);
    return rc;
}

/* ------------------------------------------------------------------ sharing with the worker */

static int share_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_D) return chmod(path, 0755) == 0 ? 0 : -1;
    if (type == FTW_F && S_ISREG(st->st_mode)) return chmod(path, 0644) == 0 ? 0 : -1;
    return 0; /* nothing else is ever extracted; never followed */
}

int fn_bundle_share(const char *root)
{
    return nftw(root, share_one, 8, FTW_PHYS) == 0 ? 0 : BB_EIO;
}
