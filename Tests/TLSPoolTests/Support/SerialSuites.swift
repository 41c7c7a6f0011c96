import Testing

/// Suites that open sockets and count descriptors run one at a time, so one
/// suite's descriptors never look like another's leak.
@Suite("TLS Pool (serialized)", .serialized)
struct TLSPoolSerialTests {}
