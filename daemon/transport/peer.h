/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is on the other end of a loopback TCP connection: the uid owning the
 * client's socket, found by socket diagnostics (NETLINK_SOCK_DIAG exact
 * lookup), falling back to /proc/net/tcp{,6}.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* peer: the client's address as accept() returned it; local: our side of the
 * connection (getsockname on the accepted socket, or the listen address).
 * Returns 0 and sets *ret_uid, or a negative errno (-ENOENT: not found). */
int kb_peer_uid(const struct sockaddr *peer, socklen_t peer_len,
                const struct sockaddr *local, socklen_t local_len, uid_t *ret_uid);

/* The /proc/net/tcp{,6} lookup alone, which kb_peer_uid falls back to when
 * socket diagnostics are unavailable; exposed so tests can exercise it. */
int kb_peer_uid_procfs(const struct sockaddr *peer, socklen_t peer_len,
                       const struct sockaddr *local, socklen_t local_len, uid_t *ret_uid);
