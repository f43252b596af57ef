/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `keybridged trust install|remove|status`: put the local root into and out of
 * the user's NSS databases (~/.pki/nssdb and Firefox profiles) with certutil,
 * and print the Firefox policies.json alternative.
 */
#pragma once

/* argv[0] is "trust". Returns a process exit code. */
int kb_trust_main(int argc, char **argv, const char *state_dir);
