// The TLS Pool: PIOC V2 wire records, the async client, and the GnuTLS pool.
