/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one entry point of every fuzz target. libFuzzer calls it with
 * -fsanitize=fuzzer; fuzz-main.c calls it for each corpus file in the normal
 * build, so the corpus replays in `meson test --suite fuzz`.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Must not crash, leak or hit a sanitizer for any input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs beyond this are not interesting for any parser here. */
#define FUZZ_MAX_INPUT (1024 * 1024)
