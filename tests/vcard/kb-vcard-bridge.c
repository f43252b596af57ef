/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kb-vcard-bridge: test fixture that puts a virtual CAC card (libcacard, backed
 * by an NSS database) into vpcd's virtual reader, so that pcscd and OpenSC's
 * real PKCS#11 module see a smart card without hardware.
 *
 *   kb-vcard-bridge --nssdb DIR [--token NAME --cert NICK [--cert NICK ...]]
 *                   [--port N] [--connect-timeout MS] [--no-quickack] [--verbose]
 *
 * With --token and --cert (up to 3), the card holds exactly those certificates
 * (NSS nicknames such as "kb-vcard:签名证书") and the private keys with the same
 * CKA_ID on token NAME ("soft=" emulation). Without them, every removable slot
 * of the database's modules is mirrored ("use_hw=removable").
 *
 * vpcd (pcscd's driver, /etc/reader.conf.d/vpcd) listens on 127.0.0.1:35963 by
 * default; we connect as the card. Each message is a 2-byte big-endian length
 * and the payload; a 1-byte payload is a control code (0 power off, 1 power on,
 * 2 reset, 4 ATR request: answered with the ATR), anything longer is a command
 * APDU answered with the response APDU. vpcd writes the length and the payload
 * separately, so TCP_QUICKACK is set after every read: otherwise every APDU
 * waits for a delayed ACK (~40 ms). Connecting inserts the card; exiting (any
 * signal) removes it. Exit status: 0 when vpcd closes the connection, 1 on
 * errors, 2 on usage errors.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Not <libcacard.h>: its vscard_common.h has a zero-size array (-Wpedantic). */
#include <vcard_emul.h>
#include <vreader.h>

#define MAX_CERTS 3

static bool quickack = true;
static bool verbose;

static void quick_ack(int fd) {
        int one = 1;
        if (quickack)
                (void) setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* Reads exactly n bytes; 0 on success, 1 on EOF, -1 on error. */
static int read_all(int fd, unsigned char *buf, size_t n) {
        size_t got = 0;
        while (got < n) {
                ssize_t r = recv(fd, buf + got, n - got, 0);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return r == 0 ? 1 : -1;
                got += (size_t) r;
                quick_ack(fd);
        }
        return 0;
}

/* Sends the 2-byte length and the payload in one write. */
static int send_msg(int fd, const unsigned char *data, size_t n) {
        static unsigned char out[2 + 65535];
        if (n > 65535)
                return -1;
        out[0] = (unsigned char) (n >> 8);
        out[1] = (unsigned char) n;
        memcpy(out + 2, data, n);
        for (size_t sent = 0; sent < n + 2;) {
                ssize_t w = send(fd, out + sent, n + 2 - sent, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -1;
                sent += (size_t) w;
        }
        return 0;
}

static int connect_vpcd(unsigned port, long timeout_ms) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        for (long waited = 0;; waited += 20) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -1;
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        int one = 1;
                        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                        quick_ack(fd);
                        return fd;
                }
                int err = errno;
                close(fd);
                if ((err != ECONNREFUSED && err != EINTR) || waited >= timeout_ms) {
                        errno = err;
                        return -1;
                }
                nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
}

/* The first reader that holds a card (a new reference), or NULL. */
static VReader *reader_with_card(void) {
        VReaderList *list = vreader_get_reader_list();
        VReader *found = NULL;
        for (VReaderListEntry *e = vreader_list_get_first(list); e && !found;
             e = vreader_list_get_next(e)) {
                VReader *r = vreader_list_get_reader(e);
                if (vreader_card_is_present(r) == VREADER_OK)
                        found = r;
                else
                        vreader_free(r);
        }
        vreader_list_delete(list);
        return found;
}

static int serve(int fd, VReader *reader) {
        static unsigned char in[65535], out[65536];
        for (;;) {
                unsigned char hdr[2];
                int r = read_all(fd, hdr, 2);
                size_t n = (size_t) hdr[0] << 8 | hdr[1];
                if (r == 0)
                        r = read_all(fd, in, n);
                if (r != 0)
                        return r > 0 ? 0 : -1;      /* EOF: vpcd went away */
                if (n == 1) {
                        int len = 64;
                        if (verbose)
                                fprintf(stderr, "kb-vcard-bridge: control %u\n", in[0]);
                        switch (in[0]) {
                        case 0: (void) vreader_power_off(reader); break;
                        case 1: (void) vreader_power_on(reader, NULL, NULL); break;
                        case 2: (void) vreader_power_on(reader, NULL, NULL); break;
                        case 4:
                                vcard_emul_get_atr(NULL, out, &len);
                                if (send_msg(fd, out, (size_t) len) < 0)
                                        return -1;
                                break;
                        default:
                                fprintf(stderr, "kb-vcard-bridge: unknown control %u\n", in[0]);
                        }
                        continue;
                }
                int len = (int) sizeof(out);
                if (vreader_xfr_bytes(reader, in, (int) n, out, &len) != VREADER_OK) {
                        out[0] = 0x6f;          /* SW 6F00: no precise diagnosis */
                        out[1] = 0x00;
                        len = 2;
                }
                if (verbose)
                        fprintf(stderr, "kb-vcard-bridge: C-APDU %zu bytes INS %02x -> R-APDU %d bytes SW %02x%02x\n",
                                n, n > 1 ? in[1] : 0, len, len >= 2 ? out[len - 2] : 0,
                                len >= 2 ? out[len - 1] : 0);
                if (send_msg(fd, out, (size_t) len) < 0)
                        return -1;
        }
}

/* Appends a and b to buf; false when they do not fit. */
static bool append(char *buf, size_t *len, size_t size, const char *a, const char *b) {
        int n = snprintf(buf + *len, size - *len, "%s%s", a, b);
        if (n < 0 || (size_t) n >= size - *len)
                return false;
        *len += (size_t) n;
        return true;
}

static void usage(FILE *f) {
        fputs("usage: kb-vcard-bridge --nssdb DIR [--token NAME --cert NICK...] [--port N]\n"
              "                       [--connect-timeout MS] [--no-quickack] [--verbose]\n", f);
}

int main(int argc, char **argv) {
        const char *nssdb = NULL, *token = NULL, *certs[MAX_CERTS];
        int n_certs = 0;
        unsigned long port = 35963;
        long timeout_ms = 10000;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                bool takes = strcmp(a, "--nssdb") == 0 || strcmp(a, "--token") == 0 ||
                             strcmp(a, "--cert") == 0 || strcmp(a, "--port") == 0 ||
                             strcmp(a, "--connect-timeout") == 0;
                if (takes && !v) {
                        fprintf(stderr, "kb-vcard-bridge: %s needs a value\n", a);
                        return 2;
                }
                if (strcmp(a, "--nssdb") == 0)
                        nssdb = v;
                else if (strcmp(a, "--token") == 0)
                        token = v;
                else if (strcmp(a, "--cert") == 0 && n_certs < MAX_CERTS)
                        certs[n_certs++] = v;
                else if (strcmp(a, "--port") == 0)
                        port = strtoul(v, NULL, 0);
                else if (strcmp(a, "--connect-timeout") == 0)
                        timeout_ms = strtol(v, NULL, 0);
                else if (strcmp(a, "--no-quickack") == 0)
                        quickack = false;
                else if (strcmp(a, "--verbose") == 0)
                        verbose = true;
                else if (strcmp(a, "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else {
                        usage(stderr);
                        return 2;
                }
                i += takes;
        }
        if (!nssdb || strchr(nssdb, '"') || port == 0 || port > 65535 || !token != !n_certs) {
                usage(stderr);
                return 2;
        }

        /* libcacard's option syntax: db="sql:DIR", then use_hw=removable, or
         * soft=(slot or token name,reader name,CAC,flags,cert nickname,...). */
        char opts[4096];
        size_t len = 0;
        bool fits = append(opts, &len, sizeof(opts), "db=\"sql:", nssdb) &&
                    append(opts, &len, sizeof(opts), "\" ", token ? "use_hw=no soft=(" : "use_hw=removable");
        for (int i = -1; token && i < n_certs; i++) {
                const char *item = i < 0 ? token : certs[i];
                if (strpbrk(item, ",)")) {
                        fprintf(stderr, "kb-vcard-bridge: '%s' must not contain ',' or ')'\n", item);
                        return 2;
                }
                fits = fits && append(opts, &len, sizeof(opts), i < 0 ? "" : ",", item) &&
                       (i >= 0 || append(opts, &len, sizeof(opts), ",kb-vcard,CAC,", ""));
        }
        if (!fits || (token && !append(opts, &len, sizeof(opts), ")", ""))) {
                fprintf(stderr, "kb-vcard-bridge: arguments too long\n");
                return 2;
        }
        if (verbose)
                fprintf(stderr, "kb-vcard-bridge: options %s\n", opts);

        VCardEmulOptions *o = vcard_emul_options(opts);
        if (!o || vcard_emul_init(o) != VCARD_EMUL_OK) {
                fprintf(stderr, "kb-vcard-bridge: cannot emulate a card from %s (%s); is SOFTHSM2_CONF set?\n",
                        nssdb, opts);
                return 1;
        }
        VReader *reader = reader_with_card();
        if (!reader) {
                fprintf(stderr, "kb-vcard-bridge: no card: no certificate found in %s\n", nssdb);
                vcard_emul_finalize();
                return 1;
        }

        int fd = connect_vpcd((unsigned) port, timeout_ms);
        if (fd < 0) {
                fprintf(stderr, "kb-vcard-bridge: connect to vpcd at 127.0.0.1:%lu: %s\n", port,
                        strerror(errno));
                vreader_free(reader);
                vcard_emul_finalize();
                return 1;
        }
        fprintf(stderr, "kb-vcard-bridge: card '%s' inserted at 127.0.0.1:%lu\n",
                vreader_get_name(reader), port);
        int r = serve(fd, reader);
        if (r < 0)
                fprintf(stderr, "kb-vcard-bridge: connection to vpcd: %s\n", strerror(errno));
        close(fd);
        vreader_free(reader);
        vcard_emul_finalize();
        return r < 0 ? 1 : 0;
}
