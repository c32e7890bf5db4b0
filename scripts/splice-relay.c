/*
 * A benchmark reference, not part of Dockhand: the cheapest relay a user-space process can be on Linux.
 * Every accepted connection gets a connection to the target and two threads, one per direction, that move
 * bytes with splice(2) through a pipe, so no byte is copied into or out of user space. A clean end is passed
 * on as a half-close; an error on either side shuts both down. Nothing is parsed or counted.
 *
 *   splice-relay <listen> <target>      each one of  unix:/path  or  tcp:host:port  (tcp:[::1]:port for IPv6)
 *
 * TCP connections get TCP_NODELAY on both sides, as Dockhand's do (socat leaves Nagle on by default). The relay
 * exits when its standard input ends, so it does not outlive the benchmark that started it.
 *
 * Built and started by scripts/splice-relay.ts; the benchmarks measure it in the same run as Dockhand to show
 * what the kernel's zero-copy path costs on the machine at hand.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PIPE_SIZE (1 << 20)

struct endpoint {
  int family;
  struct sockaddr_storage addr;
  socklen_t len;
};

struct direction {
  int from, to;
};

static struct endpoint target;

static int parse(const char *spec, struct endpoint *out) {
  memset(out, 0, sizeof *out);
  if (strncmp(spec, "unix:", 5) == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)&out->addr;
    if (strlen(spec + 5) >= sizeof un->sun_path) return -1;
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, spec + 5);
    out->family = AF_UNIX;
    out->len = sizeof *un;
    return 0;
  }
  if (strncmp(spec, "tcp:", 4) != 0) return -1;
  char host[256];
  const char *start = spec + 4;
  const char *colon = strrchr(start, ':');
  if (colon == NULL || colon == start || (size_t)(colon - start) >= sizeof host) return -1;
  size_t len = colon - start;
  if (start[0] == '[' && colon[-1] == ']') {
    start++;
    len -= 2;
  }
  memcpy(host, start, len);
  host[len] = 0;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0) return -1;
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  out->family = res->ai_family;
  freeaddrinfo(res);
  return 0;
}

static void no_delay(int fd, int family) {
  int one = 1;
  if (family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *pump(void *arg) {
  struct direction *d = arg;
  int p[2];
  int failed = 1;
  if (pipe2(p, O_CLOEXEC) == 0) {
    // a pipe of PIPE_SIZE where the per-user pipe budget allows, else the size it has
    int size = fcntl(p[0], F_SETPIPE_SZ, PIPE_SIZE);
    if (size < 0) size = fcntl(p[0], F_GETPIPE_SZ);
    for (;;) {
      ssize_t n = splice(d->from, NULL, p[1], NULL, size, SPLICE_F_MOVE);
      if (n == 0) {
        failed = 0;
        break;
      }
      if (n < 0) break;
      while (n > 0) {
        ssize_t w = splice(p[0], NULL, d->to, NULL, n, SPLICE_F_MOVE);
        if (w <= 0) goto out;
        n -= w;
      }
    }
  out:
    close(p[0]);
    close(p[1]);
  }
  if (failed) {
    shutdown(d->from, SHUT_RDWR);
    shutdown(d->to, SHUT_RDWR);
  } else {
    shutdown(d->to, SHUT_WR);
  }
  return NULL;
}

static void *connection(void *arg) {
  int client = (int)(long)arg;
  int upstream = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (upstream >= 0 && connect(upstream, (struct sockaddr *)&target.addr, target.len) == 0) {
    no_delay(upstream, target.family);
    struct direction up = {client, upstream}, down = {upstream, client};
    pthread_t t;
    if (pthread_create(&t, NULL, pump, &up) == 0) {
      pump(&down);
      pthread_join(t, NULL);
    }
  }
  if (upstream >= 0) close(upstream);
  close(client);
  return NULL;
}

/* Ends the process once standard input ends: the benchmark that started it has gone. */
static void *watch_stdin(void *arg) {
  (void)arg;
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  _exit(0);
}

int main(int argc, char **argv) {
  struct endpoint listen_on;
  if (argc != 3 || parse(argv[1], &listen_on) || parse(argv[2], &target)) {
    fprintf(stderr, "usage: splice-relay <unix:/path|tcp:host:port> <unix:/path|tcp:host:port>\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int server = socket(listen_on.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listen_on.family == AF_UNIX) unlink(((struct sockaddr_un *)&listen_on.addr)->sun_path);
  if (bind(server, (struct sockaddr *)&listen_on.addr, listen_on.len) || listen(server, 1024)) {
    perror("splice-relay: listen");
    return 1;
  }
  pthread_t watcher;
  pthread_create(&watcher, NULL, watch_stdin, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  for (;;) {
    int client = accept4(server, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) usleep(10000);
      continue;
    }
    no_delay(client, listen_on.family);
    pthread_t t;
    if (pthread_create(&t, &attr, connection, (void *)(long)client) != 0) close(client);
  }
}
