#pragma once
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/abstract.h>
#include <gnutls/dane.h>

// Static inline helpers for what Swift cannot call directly (the
// gnutls_free global). (No system socket headers here: a
// system module that includes them takes their declarations away from Glibc.)

/// Copies the session's one-line description ("(TLS1.3)-(ECDHE-...)...")
/// into `buffer` and frees GnuTLS's copy.
static inline void kx_gnutls_session_description(gnutls_session_t session, char *buffer, size_t length) {
    char *text = gnutls_session_get_desc(session);
    if (length > 0) buffer[0] = 0;
    if (text == NULL) return;
    size_t i = 0;
    for (; i + 1 < length && text[i] != 0; i++) buffer[i] = text[i];
    if (length > 0) buffer[i] = 0;
    gnutls_free(text);
}
