/* Baseline for benchmarks/bench_udp.py: a sendmmsg sender and a recvmmsg receiver of
 * 48-byte-header JUNGFRAU-sized datagrams on 127.0.0.1 (shared/spec/detectors.md 1, 2.3).
 *
 *   udp_baseline send PORT0 NPORTS PACKETS_PER_PORT TOTAL RATE_PPS   (RATE 0 = unpaced)
 *   udp_baseline recv NPORTS TOTAL IDLE_MS        (binds NPORTS ports, prints "PORT0" first)
 *   udp_baseline pool FILE PORTS PACKETS_PER_PORT FRAMES RATE_HZ [DATAGRAM_BYTES [SEGMENTS]]
 *       (PORTS comma-separated; FILE holds pool frames [frame][port][packet] of DATAGRAM_BYTES
 *        (default PACKET_BYTES): the same datagrams as the Python emitter, frame f from pool
 *        frame f mod P with its frame number written into the header, one connected socket per
 *        port, chunks of 32 packets alternating between ports, frame f due at t0 + f / RATE_HZ;
 *        SEGMENTS > 1: UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18+, udp(7)),
 *        each message up to SEGMENTS consecutive datagrams of one port that the kernel splits;
 *        output "frames=N packets=N seconds=S segments=G")
 *
 * The sender fills frame and packet numbers; ports are PORT0..PORT0+NPORTS-1, packet p of every
 * port in turn. Output: one line "packets=N seconds=S" (recv: "packets=N seconds=S" measured
 * from the first to the last datagram).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACKET_BYTES 8240
#define BATCH 64
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_send(int port0, int nports, long per_port, long total, double rate) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buf = 8 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    static unsigned char data[BATCH][PACKET_BYTES];
    struct sockaddr_in dest[64];
    for (int k = 0; k < nports && k < 64; k++) {
        memset(&dest[k], 0, sizeof dest[k]);
        dest[k].sin_family = AF_INET;
        dest[k].sin_port = htons((uint16_t)(port0 + k));
        dest[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(data, 0x11, sizeof data);
    long sent = 0;
    double t0 = now_s();
    while (sent < total) {
        int n = 0;
        for (; n < BATCH && sent + n < total; n++) {
            long i = sent + n;
            long per_frame = per_port * nports;
            uint64_t frame = (uint64_t)(i / per_frame) + 1;
            uint32_t packet = (uint32_t)((i % per_frame) / nports);
            int port = (int)(i % nports);
            memcpy(data[n], &frame, 8);
            memcpy(data[n] + 12, &packet, 4);
            data[n][46] = 3;
            data[n][47] = 2;
            iov[n].iov_base = data[n];
            iov[n].iov_len = PACKET_BYTES;
            memset(&msgs[n], 0, sizeof msgs[n]);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            msgs[n].msg_hdr.msg_name = &dest[port];
            msgs[n].msg_hdr.msg_namelen = sizeof dest[port];
        }
        if (rate > 0) {
            /* Absolute deadlines; sleep most of the wait so the pacing does not eat a core. */
            double deadline = t0 + (double)sent / rate;
            double wait = deadline - now_s();
            if (wait > 100e-6) {
                struct timespec ts = {0, (long)((wait - 50e-6) * 1e9)};
                nanosleep(&ts, NULL);
            }
            while (now_s() < deadline) {
            }
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
            if (r < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
                perror("sendmmsg");
                return 1;
            }
            done += r;
        }
        sent += n;
    }
    printf("packets=%ld seconds=%.6f\n", sent, now_s() - t0);
    return 0;
}

static int run_recv(int nports, long total, int idle_ms) {
    int fds[64];
    struct pollfd pfd[64];
    for (int k = 0; k < nports && k < 64; k++) {
        fds[k] = socket(AF_INET, SOCK_DGRAM, 0);
        int buf = 8 * 1024 * 1024;
        setsockopt(fds[k], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)(k == 0 ? 0 : 0));
        if (k > 0) {
            /* consecutive ports after the first, so the sender can address PORT0 + k */
            struct sockaddr_in first;
            socklen_t len = sizeof first;
            getsockname(fds[0], (struct sockaddr *)&first, &len);
            a.sin_port = htons((uint16_t)(ntohs(first.sin_port) + k));
        }
        if (bind(fds[k], (struct sockaddr *)&a, sizeof a) != 0) {
            perror("bind");
            return 1;
        }
        pfd[k].fd = fds[k];
        pfd[k].events = POLLIN;
    }
    struct sockaddr_in first;
    socklen_t len = sizeof first;
    getsockname(fds[0], (struct sockaddr *)&first, &len);
    printf("%d\n", ntohs(first.sin_port));
    fflush(stdout);
    static unsigned char data[BATCH][PACKET_BYTES + 1];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    long got = 0, bad = 0;
    double t_first = 0, t_last = 0;
    while (got < total) {
        int ready = poll(pfd, (nfds_t)nports, idle_ms);
        if (ready <= 0) break;
        for (int k = 0; k < nports; k++) {
            if (!(pfd[k].revents & POLLIN)) continue;
            for (int i = 0; i < BATCH; i++) {
                iov[i].iov_base = data[i];
                iov[i].iov_len = PACKET_BYTES + 1;
                memset(&msgs[i], 0, sizeof msgs[i]);
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int r = recvmmsg(fds[k], msgs, BATCH, MSG_DONTWAIT, NULL);
            if (r > 0) {
                if (got == 0) t_first = now_s();
                for (int i = 0; i < r; i++) bad += msgs[i].msg_len != PACKET_BYTES;
                got += r;
                t_last = now_s();
            }
        }
    }
    printf("packets=%ld seconds=%.6f bad=%ld\n", got, t_last - t_first, bad);
    return 0;
}

static int run_pool(const char *path, char *ports, long per_port, long frames, double rate,
                    long datagram, int segments) {
    int fds[64], nports = 0;
    if (segments < 1) segments = 1;
    if (segments > 32) segments = 32; /* a message never spans more than one 32-packet chunk */
    while (segments > 1 && segments * datagram > 65507) segments--; /* one IPv4 UDP message */
    for (char *tok = strtok(ports, ","); tok && nports < 64; tok = strtok(NULL, ",")) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        int buf = 8 * 1024 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
        if (segments > 1) {
            int size = (int)datagram;
            if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof size) != 0) {
                perror("setsockopt UDP_SEGMENT");
                return 1;
            }
        }
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)atoi(tok));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            perror("connect");
            return 1;
        }
        fds[nports++] = fd;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror("fopen");
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *pool = malloc((size_t)bytes);
    if (!pool || fread(pool, 1, (size_t)bytes, f) != (size_t)bytes) {
        perror("read");
        return 1;
    }
    fclose(f);
    long per_frame = per_port * nports;
    long n_pool = bytes / (per_frame * datagram);
    struct mmsghdr msgs[32];
    struct iovec iov[32];
    int count[32]; /* datagrams per message */
    long sent = 0;
    double t0 = now_s();
    for (long frame = 0; frame < frames; frame++) {
        if (rate > 0) {
            double deadline = t0 + (double)frame / rate;
            double wait = deadline - now_s();
            if (wait > 100e-6) {
                struct timespec ts = {0, (long)((wait - 50e-6) * 1e9)};
                nanosleep(&ts, NULL);
            }
            while (now_s() < deadline) {
            }
        }
        unsigned char *base = pool + (frame % n_pool) * per_frame * datagram;
        uint64_t number = (uint64_t)frame + 1;
        for (long i = 0; i < per_frame; i++) memcpy(base + i * datagram, &number, 8);
        for (long lo = 0; lo < per_port; lo += 32) {
            long hi = lo + 32 < per_port ? lo + 32 : per_port;
            /* ceil((hi - lo) / segments) messages of nearly equal size */
            int n = (int)((hi - lo + segments - 1) / segments);
            for (int port = 0; port < nports; port++) {
                long p = lo;
                for (int m = 0; m < n; m++) {
                    long take = (hi - p) / (n - m) + ((hi - p) % (n - m) != 0);
                    iov[m].iov_base = base + (port * per_port + p) * datagram;
                    iov[m].iov_len = (size_t)(take * datagram);
                    count[m] = (int)take;
                    memset(&msgs[m], 0, sizeof msgs[m]);
                    msgs[m].msg_hdr.msg_iov = &iov[m];
                    msgs[m].msg_hdr.msg_iovlen = 1;
                    p += take;
                }
                int done = 0;
                while (done < n) {
                    int r = sendmmsg(fds[port], msgs + done, (unsigned)(n - done), 0);
                    if (r < 0) {
                        if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
                        if (segments > 1 && (errno == EIO || errno == EINVAL)) {
                            perror("sendmmsg with UDP_SEGMENT");
                            return 1;
                        }
                        done++; /* e.g. ECONNREFUSED: skip that message, as the emitter does */
                        continue;
                    }
                    for (int m = done; m < done + r; m++) sent += count[m];
                    done += r;
                }
            }
        }
    }
    printf("frames=%ld packets=%ld seconds=%.6f segments=%d\n", frames, sent, now_s() - t0,
           segments > 1 ? segments : 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 7 && strcmp(argv[1], "send") == 0)
        return run_send(atoi(argv[2]), atoi(argv[3]), atol(argv[4]), atol(argv[5]), atof(argv[6]));
    if (argc >= 7 && strcmp(argv[1], "pool") == 0)
        return run_pool(argv[2], argv[3], atol(argv[4]), atol(argv[5]), atof(argv[6]),
                        argc >= 8 ? atol(argv[7]) : PACKET_BYTES, argc >= 9 ? atoi(argv[8]) : 1);
    if (argc >= 5 && strcmp(argv[1], "recv") == 0)
        return run_recv(atoi(argv[2]), atol(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: udp_baseline send PORT0 NPORTS PER_PORT TOTAL RATE | recv NPORTS TOTAL IDLE_MS"
                    " | pool FILE PORTS PER_PORT FRAMES RATE_HZ [DATAGRAM_BYTES [SEGMENTS]]\n");
    return 2;
}
