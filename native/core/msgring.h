// ringwire message rings for C++ peers: the one header to include. It brings
// the shared layout and its validation (msgring_layout.h), the atomics,
// futex and fence helpers (msgring_sync.h), and both ring kinds: the SPSC
// producer/consumer (msgring_spsc.h) and the MPSC ring (msgring_mpsc.h).
// Header-only, C++17, no Node and no other ringwire file: a program that
// copies native/core/msgring*.h can talk to a JS peer (lib/spsc.ts,
// lib/mpsc.ts) or another C++ process through a shared mapping.
#pragma once

#include "msgring_layout.h"
#include "msgring_mpsc.h"
#include "msgring_spsc.h"
#include "msgring_sync.h"
