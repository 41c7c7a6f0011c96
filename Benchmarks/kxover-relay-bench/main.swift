print("relay bench: not built yet")
