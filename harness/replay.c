/*
 * replay.c — snapshot files: read, write, open for replay, replay.
 *
 * A replay is the same rendering as a capture, over the image reader instead of the
 * recording reader; nothing else about the host enters the output.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spwalk.h"

int sw_read_file(const char *path, uint8_t **data, size_t *len, sw_err *e)
{
    /* "-" is standard input: `spwalk capture -o - | spwalk replay -`. */
    int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sw_fail(e, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return sw_fail(e, "%s: is a directory", path);
    }
    /* Read until EOF rather than trusting st_size: pipes and /proc files have none. One
     * byte past the cap is enough to know the file is too big. */
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = sw_xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > SW_FILE_MAX) break;
            cap *= 2;
            buf = sw_xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            free(buf);
            return sw_fail(e, "%s: %s", path, strerror(err));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > SW_FILE_MAX) {
        free(buf);
        return sw_fail(e, "%s: larger than %zu MiB, not a snapshot spwalk will read", path,
                       SW_FILE_MAX >> 20);
    }
    *data = buf;
    *len = n;
    return 0;
}

/* write(2) all of data to fd; 0 or an errno value. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        done += (size_t)w;
    }
    return 0;
}

int sw_write_file(const char *path, const void *data, size_t len, sw_err *e)
{
    /* An existing device, pipe or socket (-o /dev/stdout) is written in place: renaming a
     * file over it would replace the device node. */
    struct stat st;
    if (strcmp(path, "-") == 0) {
        int err = write_all(1, data, len);
        return err ? sw_fail(e, "standard output: %s", strerror(err)) : 0;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) return sw_fail(e, "%s: %s", path, strerror(errno));
        int err = write_all(fd, data, len);
        if (close(fd) != 0 && !err) err = errno;
        return err ? sw_fail(e, "%s: %s", path, strerror(err)) : 0;
    }
    /* Write next to the destination and rename, so a failed or interrupted capture never
     * leaves a half-written snapshot under the requested name. */
    size_t plen = strlen(path);
    char *dircopy = sw_xmalloc(plen + 1), *tmp = sw_xmalloc(plen + 32);
    memcpy(dircopy, path, plen + 1);
    snprintf(tmp, plen + 32, "%s/.spwalk-XXXXXX", dirname(dircopy));
    free(dircopy);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int err = errno;
        free(tmp);
        return sw_fail(e, "%s: %s", path, strerror(err));
    }
    int err = write_all(fd, data, len);
    /* mkstemp creates the file 0600; a snapshot is an ordinary file. */
    if (!err && fchmod(fd, 0644) != 0) err = errno;
    if (close(fd) != 0 && !err) err = errno;
    if (!err && rename(tmp, path) != 0) err = errno;
    if (err) {
        unlink(tmp);
        free(tmp);
        return sw_fail(e, "%s: %s", path, strerror(err));
    }
    free(tmp);
    return 0;
}

int sw_snap_encode(const spw_snap_spec *spec, const sw_buf *expected, sw_buf *out, sw_err *e)
{
    spw_snap_spec sp = *spec;
    sp.expected = expected ? (const uint8_t *)(expected->data ? expected->data : "") : NULL;
    sp.expected_len = expected ? (uint32_t)expected->len : 0;
    /* Size first (cap 0), then encode into a buffer of exactly that size. */
    size_t size = 0;
    spw_snap_err se = spw_snapshot_encode(&sp, NULL, 0, &size);
    if (se == SPW_SNAP_E_NOSPACE && size <= SW_FILE_MAX) {
        if (out->cap < size + 1) {
            out->data = sw_xrealloc(out->data, size + 1);
            out->cap = size + 1;
        }
        se = spw_snapshot_encode(&sp, (uint8_t *)out->data, size, &size);
        out->len = se == SPW_SNAP_OK ? size : 0;
    }
    if (se == SPW_SNAP_E_NOSPACE && size > SW_FILE_MAX)
        return sw_fail(e, "snapshot larger than %zu MiB", SW_FILE_MAX >> 20);
    if (se != SPW_SNAP_OK)
        return sw_fail(e, "cannot encode the snapshot: %s", spw_snap_strerror(se));
    return 0;
}

int sw_snap_open(sw_snap *s, const uint8_t *buf, size_t len, sw_err *e)
{
    memset(s, 0, sizeof *s);
    spw_snap_err se = spw_snapshot_decode(buf, len, &s->snap);
    if (se != SPW_SNAP_OK) return sw_fail(e, "bad snapshot: %s", spw_snap_strerror(se));
    spw_layout_err le =
        spw_layout_parse(s->snap.offsets, s->snap.offsets_len, s->snap.header.arch, &s->layout);
    if (le != SPW_LAYOUT_OK)
        return sw_fail(e, "bad snapshot: debug offsets: %s", spw_layout_strerror(le));
    /* The header repeats what the offsets blob says so that `show` can print it without
     * parsing; a file where the two disagree was not written by a capture. */
    if (s->snap.header.py_version != s->layout.py_version ||
        s->snap.header.free_threaded != s->layout.free_threaded)
        return sw_fail(e, "bad snapshot: header and debug offsets disagree on the Python "
                          "version or build");
    s->threads = sw_xmalloc((size_t)s->snap.n_threads * sizeof *s->threads);
    for (uint32_t i = 0; i < s->snap.n_threads; i++)
        s->threads[i] = spw_snapshot_thread(&s->snap, i);
    s->input_bytes = len;
    s->reader.read = spw_image_read;
    s->reader.ctx = &s->snap;
    return 0;
}

void sw_snap_close(sw_snap *s)
{
    free(s->threads);
    s->threads = NULL;
}

int sw_snap_render(const sw_snap *s, sw_format fmt, sw_buf *out, sw_err *e)
{
    sw_view v = {
        .layout = &s->layout,
        .reader = &s->reader,
        .code_type = s->snap.header.code_type,
        .threads = s->threads,
        .n_threads = s->snap.n_threads,
        .input_bytes = s->input_bytes,
    };
    return sw_render(&v, fmt, out, e);
}
