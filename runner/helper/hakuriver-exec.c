/*
 * hakuriver-exec: starts a task's program with its output already pointed at its log files, so
 * the bytes go from the program to the files at disk speed, never through the runner or the
 * Docker engine, and exactly as written.
 *
 * usage: hakuriver-exec [--stdout FILE] [--stderr FILE] [--limit BYTES] -- PROGRAM [ARGS...]
 *
 *   --stdout, --stderr  open FILE (which must exist, and not be a link) for appending and make it
 *                       the program's standard output (error); without them the inherited ones
 *                       are used.
 *   --limit BYTES       keep at most BYTES of each stream: the program writes into pipes, this
 *                       process copies them to the files up to the limit, drops the rest while
 *                       counting it, then ends each file that overflowed with one marker line:
 *                       "[hakuriver] log limit of N bytes reached: M more bytes dropped".
 *                       It forwards termination signals to the program and ends the way it did.
 *
 * Without --limit it replaces itself with the program (nothing stays in between). It is linked
 * statically so that it runs inside any container image; the runner embeds it and bind-mounts it
 * read-only into each task container. It never interprets the program's arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAILED 127
#define BUFFER (256 * 1024)

static void fail(const char *what, const char *name) {
    dprintf(2, "hakuriver-exec: %s %s: %s\n", what, name ? name : "", strerror(errno));
    exit(FAILED);
}

static void usage(const char *why) {
    dprintf(2, "hakuriver-exec: %s\nusage: hakuriver-exec [--stdout FILE] [--stderr FILE] "
               "[--limit BYTES] -- PROGRAM [ARGS...]\n", why);
    exit(FAILED);
}

/* Makes FILE the descriptor `fd` (1 or 2). */
static void point(int fd, const char *file) {
    int opened = open(file, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (opened < 0) fail("cannot open", file);
    if (dup2(opened, fd) < 0) fail("cannot redirect to", file);
    close(opened);
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One of the program's output streams on its way to its file. */
struct stream {
    int pipe;             /* read end; -1 once it ended */
    int file;             /* 1 or 2 */
    unsigned long long kept, dropped;
    char last;            /* the last byte kept */
    int broken;           /* the file cannot be written: everything else is dropped */
};

static char buffer[BUFFER];

/* Moves what the pipe holds now: 1 when it moved some, 0 when the pipe ended, -1 when it holds
 * nothing right now. */
static int pump(struct stream *s, unsigned long long limit) {
    ssize_t n = read(s->pipe, buffer, sizeof buffer);
    if (n < 0) return errno == EINTR || errno == EAGAIN ? -1 : 0;
    if (n == 0) return 0;
    unsigned long long room = limit - s->kept;
    size_t keep = (unsigned long long)n < room ? (size_t)n : (size_t)room;
    if (keep > 0 && !s->broken) {
        if (write_all(s->file, buffer, keep) < 0) s->broken = 1;
        s->last = buffer[keep - 1];
    }
    s->kept += keep;
    s->dropped += (size_t)n - keep;
    return 1;
}

static void mark(struct stream *s, unsigned long long limit) {
    if (s->dropped == 0 || s->broken) return;
    char line[160];
    int len = snprintf(line, sizeof line, "%s[hakuriver] log limit of %llu bytes reached: %llu more bytes dropped\n",
                       s->kept > 0 && s->last != '\n' ? "\n" : "", limit, s->dropped);
    if (len > 0) write_all(s->file, line, (size_t)len);
}

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t child_exited;

static void forward(int sig) {
    if (child_pid > 0) kill(child_pid, sig);
}

static void on_child(int sig) {
    (void)sig;
    child_exited = 1;
}

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/* Runs the program with its output in pipes, copied to the files up to `limit`; never returns. */
static void run_limited(char **program, unsigned long long limit) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) fail("cannot make a pipe", NULL);
    fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
    fcntl(err[0], F_SETPIPE_SZ, 1 << 20);

    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    struct sigaction action = {0};
    action.sa_handler = on_child;
    sigaction(SIGCHLD, &action, NULL);
    action.sa_handler = forward;
    action.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &action, NULL);

    pid_t pid = fork();
    if (pid < 0) fail("cannot fork", NULL);
    if (pid == 0) {
        struct sigaction dfl = {0};
        dfl.sa_handler = SIG_DFL;
        for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &dfl, NULL);
        sigaction(SIGCHLD, &dfl, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(FAILED);
        execvp(program[0], program);
        dprintf(2, "hakuriver-exec: cannot run %s: %s\n", program[0], strerror(errno));
        _exit(FAILED);
    }
    child_pid = pid;
    close(out[1]);
    close(err[1]);

    struct stream streams[2] = {{.pipe = out[0], .file = 1, .last = '\n'}, {.pipe = err[0], .file = 2, .last = '\n'}};
    int status = 0, reaped = 0;
    sigset_t waiting = old;
    sigdelset(&waiting, SIGCHLD);
    while (streams[0].pipe >= 0 || streams[1].pipe >= 0) {
        if (child_exited) {
            child_exited = 0;
            /* Reap everything (this may be a container's first process); once the program itself
             * has ended, take what its pipes hold now and stop: helpers it left behind that keep
             * the pipes open do not hold the task up. */
            pid_t done;
            int other;
            while ((done = waitpid(-1, &other, WNOHANG)) > 0)
                if (done == pid) {
                    reaped = 1;
                    status = other;
                }
            if (reaped) {
                for (int i = 0; i < 2; i++) {
                    if (streams[i].pipe < 0) continue;
                    fcntl(streams[i].pipe, F_SETFL, O_NONBLOCK);
                    while (pump(&streams[i], limit) > 0) {
                    }
                }
                break;
            }
        }
        struct pollfd fds[2];
        for (int i = 0; i < 2; i++) fds[i] = (struct pollfd){.fd = streams[i].pipe, .events = POLLIN};
        int ready = ppoll(fds, 2, NULL, &waiting);
        if (ready < 0) continue; /* a signal: the loop looks at it */
        for (int i = 0; i < 2; i++) {
            if (fds[i].revents == 0) continue;
            if (pump(&streams[i], limit) == 0) {
                close(streams[i].pipe);
                streams[i].pipe = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++) mark(&streams[i], limit);
    while (!reaped) {
        int other;
        pid_t done = waitpid(-1, &other, 0);
        if (done == pid) {
            reaped = 1;
            status = other;
        } else if (done < 0 && errno != EINTR) break;
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        raise(sig);
        /* Still here: a container's first process is immune to its own signals. */
        exit(128 + sig);
    }
    exit(WIFEXITED(status) ? WEXITSTATUS(status) : FAILED);
}

int main(int argc, char **argv) {
    const char *out = NULL, *err = NULL;
    unsigned long long limit = 0;
    int limited = 0, i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (i + 1 >= argc) usage("an option needs a value");
        if (strcmp(argv[i], "--stdout") == 0) out = argv[++i];
        else if (strcmp(argv[i], "--stderr") == 0) err = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0) {
            char *end;
            errno = 0;
            limit = strtoull(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || argv[i][0] < '0' || argv[i][0] > '9') usage("--limit needs a number of bytes");
            limited = 1;
        } else usage("unknown option");
    }
    if (i + 1 >= argc) usage("no program after --");
    if (out) point(1, out);
    if (err) point(2, err);
    char **program = argv + i + 1;
    if (limited) run_limited(program, limit);
    execvp(program[0], program);
    fail("cannot run", program[0]);
    return FAILED;
}
