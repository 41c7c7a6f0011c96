// tlspoold: the TLS Pool as its own process (arrives with the TLSPool module).
print("tlspoold: not built yet")
